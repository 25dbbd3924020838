import ChildProcess
import Foundation
import PostgresNIO
import RotorCore
import RotorStorage
import RotorCrypto
import RotorPostgres
import Synchronization
import RotorStoreConformance
import Testing

/// What only a shared store does: several instances on one database.
@Suite(.postgresConfigured)
struct PostgresStoreTests {
    /// Runs `body` with `count` stores (instances) on one fresh schema.
    func withInstances(_ count: Int, _ body: ([PostgresStore], String) async throws -> Void) async throws {
        let schema = try await PostgresTestDatabase.createSchema()
        var url = try #require(PostgresTestDatabase.url)
        url.searchPath = schema
        let keyring = Keyring.generate()
        var stores: [PostgresStore] = []
        do {
            for _ in 0..<count {
                stores.append(try await PostgresStore.connect(url: url, keyring: keyring, maximumConnections: 6, logger: PostgresTestDatabase.logger))
            }
            try await body(stores, schema)
        } catch {
            for store in stores { store.shutdown() }
            try? await PostgresTestDatabase.dropSchema(schema)
            throw error
        }
        for store in stores { store.shutdown() }
        try? await PostgresTestDatabase.dropSchema(schema)
    }

    @Test("instances claiming at once never get the same job, and together get them all")
    func concurrentClaims() async throws {
        try await self.withInstances(3) { stores, _ in
            var ids: Set<JobID> = []
            for _ in 0..<30 {
                ids.insert(try await stores[0].addJob(for: try await stores[0].addCredential()).id)
            }
            let claims = try await withThrowingTaskGroup(of: [JobID].self) { group in
                for (index, store) in stores.enumerated() {
                    group.addTask {
                        // A distinct owner per call, as if each call were another instance: a job
                        // still leased is never handed to a second owner.
                        var mine: [JobID] = []
                        for call in 0..<10 {
                            mine += try await store.claimJobs(
                                owner: "instance-\(index)-\(call)", now: Sample.t0, leaseUntil: Sample.t0.addingTimeInterval(60), limit: 2)
                        }
                        return mine
                    }
                }
                var all: [[JobID]] = []
                for try await claimed in group { all.append(claimed) }
                return all
            }
            let flat = claims.flatMap { $0 }
            #expect(flat.count == Set(flat).count, "a job was claimed by two owners")
            #expect(Set(flat) == ids)
        }
    }

    @Test("dispatchers of several instances claiming at once never get the same delivery")
    func concurrentDeliveryClaims() async throws {
        try await self.withInstances(3) { stores, _ in
            let store = stores[0]
            try await store.createSubscription(
                Subscription(id: .generate(), url: "https://hooks.example/x", events: [.jobStarted], createdAt: Sample.t0),
                signingSecret: Secret(WebhookSecret.generate().encoded))
            for _ in 0..<12 {
                let job = try await store.addJob(for: try await store.addCredential())
                _ = try await store.claimJobs(owner: "engine", now: Sample.t0, leaseUntil: Sample.t0.addingTimeInterval(60), limit: 20)
                var started = job
                try started.start(at: Sample.t0)
                try await store.commit(RotationCommit(job: started), owner: "engine")
            }
            let claims = try await withThrowingTaskGroup(of: [EventID].self) { group in
                for (index, instance) in stores.enumerated() {
                    group.addTask {
                        var mine: [EventID] = []
                        for call in 0..<6 {
                            mine += try await instance.claimDeliveries(
                                owner: "dispatcher-\(index)-\(call)", now: Sample.t0.addingTimeInterval(1),
                                leaseUntil: Sample.t0.addingTimeInterval(61), limit: 2
                            ).map(\.event.id)
                        }
                        return mine
                    }
                }
                var all: [[EventID]] = []
                for try await claimed in group { all.append(claimed) }
                return all
            }
            let flat = claims.flatMap { $0 }
            #expect(flat.count == 12)
            #expect(Set(flat).count == flat.count, "a delivery was claimed by two dispatchers")
        }
    }

    @Test("a job created on one instance wakes the others through LISTEN/NOTIFY; so does an outbox row")
    func notifications() async throws {
        try await self.withInstances(2) { stores, _ in
            let (writer, listener) = (stores[0], stores[1])
            let jobWakes = Mutex(0)
            let outboxWakes = Mutex(0)
            listener.observeJobs { jobWakes.withLock { $0 += 1 } }
            listener.observeOutbox { outboxWakes.withLock { $0 += 1 } }
            let jobsBefore = 0
            let outboxBefore = 0

            try await writer.createSubscription(
                Subscription(id: .generate(), url: "https://hooks.example/x", events: [.jobStarted], createdAt: Sample.t0),
                signingSecret: Secret(WebhookSecret.generate().encoded))
            let job = try await writer.addJob(for: try await writer.addCredential())
            try await Poll.until("the other connection hears of the new job") { jobWakes.withLock { $0 } > jobsBefore }
            #expect(outboxWakes.withLock { $0 } == outboxBefore)

            _ = try await writer.claimJobs(owner: "A", now: Sample.t0, leaseUntil: Sample.t0.addingTimeInterval(60), limit: 1)
            var started = job
            try started.start(at: Sample.t0)
            try await writer.commit(RotationCommit(job: started), owner: "A")
            try await Poll.until("the other connection hears of the outbox row") { outboxWakes.withLock { $0 } > outboxBefore }
        }
    }

    @Test("of several instances' schedulers, one starts a due rotation")
    func scheduledStartOnce() async throws {
        try await self.withInstances(3) { stores, _ in
            var credential = Sample.credential()
            credential.schedule = Schedule(every: ISODuration(seconds: 3600))
            credential.nextRotationAt = Sample.t0
            try await stores[0].createCredential(credential, secrets: Sample.secrets(for: credential))
            let scheduled = credential
            let started = try await withThrowingTaskGroup(of: Job?.self) { group in
                for store in stores {
                    group.addTask {
                        try await store.startScheduledRotation(
                            Sample.job(for: scheduled), dueAt: Sample.t0, retryAt: Sample.t0.addingTimeInterval(3600), events: [])
                    }
                }
                var jobs: [Job] = []
                for try await job in group { if let job { jobs.append(job) } }
                return jobs
            }
            #expect(started.count == 1)
            #expect(try await stores[1].jobs(JobFilter(credentialID: scheduled.id), PageRequest()).items.map(\.id) == started.map(\.id))
        }
    }

    @Test("a job insert that waits for the previous job's final commit takes its old key from that commit, not from a read before it")
    func createJobWaitsOutTheFinalCommit() async throws {
        try await self.withInstances(1) { stores, schema in
            let store = stores[0]
            let credential = try await store.addCredential()
            let first = try await store.addJob(for: credential)
            let rotated = Sample.key("key-rotated")
            let logger = PostgresTestDatabase.logger
            try await PostgresTestDatabase.withConnection { connection in
                // The first job's final commit, under way on another connection: the job is
                // terminal and another key current, but not committed yet.
                _ = try await connection.query(PostgresQuery(unsafeSQL: "SET search_path TO \(schema)"), logger: logger)
                _ = try await connection.query("BEGIN", logger: logger)
                _ = try await connection.query("UPDATE jobs SET state = 'succeeded', revision = revision + 1 WHERE id = \(first.id.rawValue)", logger: logger)
                let json = try RowCoding.json(rotated)
                _ = try await connection.query(
                    "UPDATE credentials SET current_key = \(json), state = 'active' WHERE id = \(credential.id.rawValue)", logger: logger)

                // The new job's transaction reads the credential, then its insert waits on the
                // first job's row in the unique index...
                let creating = Task { try await store.addJob(for: credential, at: Sample.t0.addingTimeInterval(10)) }
                let deadline = ContinuousClock.now + .seconds(10)
                var waiting = false
                while !waiting && ContinuousClock.now < deadline {
                    // Inside a transaction the activity view is a snapshot taken once: drop it.
                    _ = try await connection.query("SELECT pg_stat_clear_snapshot()", logger: logger)
                    let rows = try await connection.query(
                        "SELECT count(*)::int FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO jobs%'", logger: logger)
                    for try await count in rows.decode(Int.self) { waiting = count > 0 }
                    if !waiting { try await Task.sleep(for: .milliseconds(10)) }
                }
                #expect(waiting, "the insert never waited for the open commit")
                // ...until the commit lands.
                _ = try await connection.query("COMMIT", logger: logger)
                let second = try await creating.value
                #expect(second.oldKey == rotated)
                #expect(try await store.job(second.id)?.oldKey == rotated)
                #expect(try await store.credential(credential.id)?.state == .rotating)
            }
        }
    }

    @Test("migrations are recorded in schema_migrations and not applied twice; instances starting together migrate once")
    func migrations() async throws {
        try await self.withInstances(3) { _, schema in
            let versions = try await PostgresTestDatabase.withConnection { connection in
                var versions: [String] = []
                for try await version in try await connection.query(
                    PostgresQuery(unsafeSQL: "SELECT version FROM \(schema).schema_migrations ORDER BY version"), logger: PostgresTestDatabase.logger
                ).decode(String.self) {
                    versions.append(version)
                }
                return versions
            }
            #expect(versions == ["v1", "v2-schedules-deliveries", "v2-subscriptions", "v2-triggers", "v3-envelope-kek-ids", "v3-tokens-audit", "v4-audit-staging", "v5-retention", "v6-create-attempt", "v7-audit-checkpoints", "v8-agent-instances", "v9-credential-manager"])
        }
    }
}

/// `ROTOR_DATABASE_URL` parsing; needs no server.
@Suite struct PostgresURLTests {
    @Test("the database URL parses its parts and never prints the password")
    func url() throws {
        let url = try PostgresURL(parsing: "postgres://rotor:s%40cret-pass@db.internal:6543/rotor?sslmode=require")
        #expect(url.host == "db.internal" && url.port == 6543 && url.username == "rotor" && url.database == "rotor")
        #expect(url.password == "s@cret-pass")
        #expect(url.tlsMode == .require)
        #expect(!url.description.contains("cret"))
        #expect(url.description == "postgres://rotor:***@db.internal:6543/rotor?sslmode=require")
        #expect(throws: PostgresStoreError.self) { try PostgresURL(parsing: "mysql://a:b@h/db") }
        #expect(throws: PostgresStoreError.self) { try PostgresURL(parsing: "postgres://a:b@h") }
        #expect(throws: PostgresStoreError.self) { try PostgresURL(parsing: "postgres://a:b@h/db?sslmode=sometimes") }
        let error = #expect(throws: PostgresStoreError.self) { try PostgresURL(parsing: "postgres://a:topsecret@h/db?x=1") }
        #expect(error.map { !String(describing: $0).contains("topsecret") } == true)
    }
}
