import Foundation
import PostgresNIO
import RotorCore
import RotorCrypto
import RotorPostgres
import RotorSQLite
import RotorStoreConformance
import Testing

/// The audit chain and the leaked-key index on PostgreSQL, where several instances append to
/// one log; the shared suite covers what both stores do alike.
@Suite(.postgresConfigured)
struct PostgresAuditTests {
    private static func run(_ schema: String, _ sql: String) async throws {
        try await PostgresTestDatabase.withConnection { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: "SET search_path TO \(schema)"), logger: PostgresTestDatabase.logger)
            _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: PostgresTestDatabase.logger)
        }
    }

    @Test("the same records give the same chain, hash for hash, on SQLite and PostgreSQL")
    func sameChainAsSQLite() async throws {
        let fixture = try await SQLiteFixture.opened()
        defer { fixture.cleanup() }
        try await PostgresStoreTests().withInstances(1) { stores, _ in
            let records = [
                AuditRecord(at: Sample.t0, actor: "tok_a", action: "credential.create", resource: "cred_1"),
                AuditRecord(at: Sample.t0.addingTimeInterval(1.5), actor: "engine", action: "job.succeeded", resource: "job_1"),
                AuditRecord(at: Sample.t0.addingTimeInterval(2), actor: "tök", action: "secret.read", resource: "cred_1", outcome: "denied"),
            ]
            for record in records {
                try await fixture.store.appendAudit(record)
                try await stores[0].appendAudit(record)
            }
            let sqlite = try await fixture.store.auditEntries(PageRequest(limit: 10)).items
            let postgres = try await stores[0].auditEntries(PageRequest(limit: 10)).items
            #expect(sqlite.count == 3)
            #expect(postgres == sqlite)
        }
    }

    @Test("instances appending at once keep one chain without gaps; an edited or deleted row is named")
    func concurrentAppendsAndTampering() async throws {
        try await PostgresStoreTests().withInstances(3) { stores, schema in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, store) in stores.enumerated() {
                    group.addTask {
                        for round in 0..<10 {
                            try await store.appendAudit(
                                AuditRecord(at: Sample.t0, actor: "instance-\(index)", action: "secret.read", resource: "cred_\(round)"))
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await stores[1].verifyAuditChain() == .intact(count: 30))
            #expect(try await stores[2].auditEntries(PageRequest(limit: 100)).items.map(\.seq) == Array(1...30))

            try await Self.run(schema, "UPDATE audit_log SET resource = 'cred_other' WHERE seq = 7")
            guard case .broken(let seq, _) = try await stores[0].verifyAuditChain() else {
                Issue.record("an edited entry went unnoticed")
                return
            }
            #expect(seq == 7)
            try await Self.run(schema, "DELETE FROM audit_log WHERE seq = 7")
            guard case .broken(let missing, _) = try await stores[0].verifyAuditChain() else {
                Issue.record("a deleted entry went unnoticed")
                return
            }
            #expect(missing == 8)
        }
    }

    private static func count(_ schema: String, _ table: String) async throws -> Int {
        try await PostgresTestDatabase.withConnection { connection in
            var count = 0
            for try await value in try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(schema).\(table)"), logger: PostgresTestDatabase.logger
            ).decode(Int.self) {
                count = value
            }
            return count
        }
    }

    @Test("a write stages its record; the store chains it right after the commit, without being asked")
    func chainedInTheBackground() async throws {
        try await PostgresStoreTests().withInstances(1) { stores, schema in
            try await stores[0].appendAudit(AuditRecord(at: Sample.t0, actor: "tok_a", action: "secret.read", resource: "cred_1"))
            let deadline = ContinuousClock.now + .seconds(15)
            while try await Self.count(schema, "audit_log") == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try await Self.count(schema, "audit_log") == 1)
            #expect(try await Self.count(schema, "audit_staged") == 0)
        }
    }

    @Test("records staged by an instance that died before chaining them are chained when a store connects")
    func stagedRecordsChainedAtConnect() async throws {
        try await PostgresStoreTests().withInstances(1) { stores, schema in
            try await stores[0].appendAudit(AuditRecord(at: Sample.t0, actor: "tok_a", action: "secret.read", resource: "cred_1"))
            #expect(try await stores[0].verifyAuditChain() == .intact(count: 1))
            stores[0].shutdown()
            // What a write of a dead instance left: committed, never chained.
            try await Self.run(
                schema,
                "INSERT INTO audit_staged (at, actor, action, resource, outcome) VALUES ('2026-11-26T20:31:02.000Z', 'tok_b', 'job.create', 'job_9', 'success')"
            )
            var url = try #require(PostgresTestDatabase.url)
            url.searchPath = schema
            let restarted = try await PostgresStore.connect(url: url, keyring: Keyring.generate(), maximumConnections: 2, logger: PostgresTestDatabase.logger)
            defer { restarted.shutdown() }
            #expect(try await Self.count(schema, "audit_staged") == 0)
            #expect(try await Self.count(schema, "audit_log") == 2)
            let entries = try await restarted.auditEntries(PageRequest(limit: 10)).items
            #expect(entries.map(\.seq) == [1, 2])
            #expect(entries.last?.record.actor == "tok_b")
            #expect(entries.last?.record.resource == "job_9")
            #expect(try await restarted.verifyAuditChain() == .intact(count: 2))
        }
    }

    @Test("a cancel that ends a queued job is audited as the caller's, in the cancel's transaction")
    func cancelAudited() async throws {
        try await PostgresStoreTests().withInstances(1) { stores, _ in
            let store = stores[0]
            let job = try await store.addJob(for: try await store.addCredential())
            let cancelled = try await Audit.$actor.withValue("tok_canceller") {
                try await Audit.recording("job.cancel", job.id.rawValue, at: Sample.t0) {
                    try await store.requestCancel(job.id, at: Sample.t0.addingTimeInterval(1))
                }
            }
            #expect(cancelled.state == .cancelled)
            let entries = try await store.auditEntries(PageRequest(limit: 10)).items
            // The request first, then its consequence, as the SQLite store orders them.
            #expect(entries.map(\.record.action) == ["job.cancel", "job.cancelled"])
            #expect(entries.map(\.record.actor) == ["tok_canceller", "tok_canceller"])
            #expect(try await store.verifyAuditChain() == .intact(count: 2))
        }
    }

    @Test("a database from before the current-key index gets it backfilled at connect")
    func backfill() async throws {
        let schema = try await PostgresTestDatabase.createSchema()
        var url = try #require(PostgresTestDatabase.url)
        url.searchPath = schema
        let keyring = Keyring.generate()
        let store = try await PostgresStore.connect(url: url, keyring: keyring, maximumConnections: 2, logger: PostgresTestDatabase.logger)
        var reopened: PostgresStore?
        defer {
            store.shutdown()
            reopened?.shutdown()
        }
        let credential = Sample.credential()
        try await store.createCredential(credential, secrets: Sample.secrets(for: credential, current: "backfilled-key"))
        let digest = SHA256.hexDigest("backfilled-key")
        #expect(try await store.credentialIDs(currentKeySHA256: [digest]) == [digest: credential.id])
        // As a database written before the column existed would look.
        try await Self.run(schema, "UPDATE credentials SET current_key_sha256 = NULL")
        #expect(try await store.credentialIDs(currentKeySHA256: [digest]).isEmpty)

        reopened = try await PostgresStore.connect(url: url, keyring: keyring, maximumConnections: 2, logger: PostgresTestDatabase.logger)
        #expect(try await reopened?.credentialIDs(currentKeySHA256: [digest]) == [digest: credential.id])
        try? await PostgresTestDatabase.dropSchema(schema)
    }

    @Test("instances publishing at once store one checkpoint per head; the read-only verifier holds a given checkpoint against a cut tail")
    func checkpoints() async throws {
        try await PostgresStoreTests().withInstances(3) { stores, schema in
            for round in 0..<4 {
                try await stores[round % 3].appendAudit(AuditRecord(at: Sample.t0, actor: "engine", action: "secret.read", resource: "cred_\(round)"))
            }
            let published = try await withThrowingTaskGroup(of: AuditCheckpoint?.self) { group in
                for store in stores { group.addTask { try await store.publishAuditCheckpoint(at: Sample.t0) } }
                return try await group.reduce(into: [AuditCheckpoint]()) { if let checkpoint = $1 { $0.append(checkpoint) } }
            }
            #expect(published.count == 1)
            let checkpoint = try #require(published.first)
            #expect(checkpoint.seq == 4)

            var url = try #require(PostgresTestDatabase.url)
            url.searchPath = schema
            #expect(try await PostgresStore.latestAuditCheckpoint(url: url, logger: PostgresTestDatabase.logger) == checkpoint)
            #expect(try await PostgresStore.verifyAuditChain(url: url, checkpoints: [checkpoint], logger: PostgresTestDatabase.logger) == .intact(count: 4))

            try await Self.run(schema, "DELETE FROM audit_log WHERE seq = 4")
            guard case .broken(let seq, _) = try await PostgresStore.verifyAuditChain(url: url, logger: PostgresTestDatabase.logger) else {
                Issue.record("a cut tail went unnoticed with its checkpoint stored")
                return
            }
            #expect(seq == 4)
            try await Self.run(schema, "DELETE FROM audit_checkpoints")
            #expect(try await PostgresStore.verifyAuditChain(url: url, logger: PostgresTestDatabase.logger) == .intact(count: 3))
            guard case .broken(let cut, let reason) = try await PostgresStore.verifyAuditChain(
                url: url, checkpoints: [checkpoint], logger: PostgresTestDatabase.logger)
            else {
                Issue.record("a cut tail went unnoticed with the checkpoint given")
                return
            }
            #expect(cut == 4)
            #expect(reason.contains("entry 4 was removed"), "\(reason)")
        }
    }
}
