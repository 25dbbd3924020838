import Foundation
import Logging
import NIOHTTP1
import RotorCore
import RotorCrypto
import RotorEngine
import RotorSQLite
import Testing

/// The scheduler over a real SQLite file, with a test clock run days forward.
@Suite(.timeLimit(.minutes(1))) struct SchedulerTests {
    /// A temporary database file and its keyring, reopened as a restart would.
    struct Database: Sendable {
        let path: String
        let keyring: Keyring

        static func with(_ body: (Database) async throws -> Void) async throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-scheduler-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            try await body(Database(path: directory.appendingPathComponent("rotor.sqlite").path, keyring: Keyring.generate()))
        }

        func open() async throws -> SQLiteStore { try await SQLiteStore.connect(path: self.path, keyring: self.keyring) }
    }

    static let day: TimeInterval = 86_400

    /// Stores a credential as `POST /v1/credentials` would: `next_rotation_at` from its schedule.
    static func makeCredential(
        _ store: SQLiteStore,
        at now: Date,
        schedule: Schedule?,
        expiresAt: Date? = nil,
        state: CredentialState = .active
    ) async throws -> Credential {
        // A key of its own each: a store refuses a second credential on the same key.
        let key = UUID().uuidString.lowercased()
        var credential = Credential(
            id: .generate(),
            name: "scheduled-\(key.prefix(8))",
            provider: .vultr,
            state: state,
            current: KeyInfo(providerKeyID: "key-\(key)", fingerprint: "sha256:\(key.prefix(12))", createdAt: now, expiresAt: expiresAt),
            targets: [Target(id: .generate(), url: "https://consumer.example.com/hook")],
            schedule: schedule,
            createdAt: now,
            updatedAt: now
        )
        credential.nextRotationAt = credential.scheduledRotationAt()
        try await store.createCredential(credential, secrets: CredentialSecrets(current: Secret("vultr-key-\(key)"), signingSecrets: [credential.targets[0].id: Secret(WebhookSecret.generate().encoded)]))
        return credential
    }

    static func scheduler(_ store: SQLiteStore, _ clock: TestClock, started: (@Sendable (JobID) async -> Void)? = nil) -> RotationScheduler {
        RotationScheduler(
            store: store,
            clock: clock,
            configuration: SchedulerConfiguration(pollInterval: 30, retryInterval: 3600),
            jobStarted: started ?? { _ in },
            logger: Logger(label: "scheduler-test")
        )
    }

    static func every(_ text: String) throws -> Schedule { Schedule(every: try ISODuration(parsing: text)) }

    @Test("due by every: nothing a second early, a schedule job when last rotation (or creation) + every is reached")
    func dueByEvery() async throws {
        try await Database.with { database in
            let store = try await database.open()
            let clock = TestClock()
            let created = clock.now()
            let credential = try await Self.makeCredential(store, at: created, schedule: try Self.every("P30D"))
            #expect(credential.nextRotationAt == created.addingTimeInterval(30 * Self.day))
            let scheduler = Self.scheduler(store, clock)

            clock.advance(to: created.addingTimeInterval(30 * Self.day - 1))
            #expect(await scheduler.startDueRotations().isEmpty)

            clock.advance(by: 1)
            let started = await scheduler.startDueRotations()
            #expect(started.count == 1)
            let startedID = try #require(started.first)
            let job = try #require(try await store.job(startedID))
            #expect(job.credentialID == credential.id)
            #expect(job.trigger == Trigger(kind: .schedule, source: "every"))
            #expect(job.state == .queued)
            #expect(job.targets.map(\.targetID) == credential.targets.map(\.id))
            let stored = try #require(try await store.credential(credential.id))
            #expect(stored.state == .rotating)
            // The cursor moved on with the job: to the retry time, should this job not succeed.
            #expect(stored.nextRotationAt == clock.now().addingTimeInterval(3600))
            #expect(try await store.events(job.id).first?.message.contains("every P30D") == true)
            #expect(await scheduler.startDueRotations().isEmpty)
        }
    }

    @Test("due by before_expiry: the current key's expires_at minus before_expiry")
    func dueByBeforeExpiry() async throws {
        try await Database.with { database in
            let store = try await database.open()
            let clock = TestClock()
            let now = clock.now()
            let schedule = Schedule(every: try ISODuration(parsing: "P90D"), beforeExpiry: try ISODuration(parsing: "P7D"))
            let credential = try await Self.makeCredential(store, at: now, schedule: schedule, expiresAt: now.addingTimeInterval(10 * Self.day))
            #expect(credential.nextRotationAt == now.addingTimeInterval(3 * Self.day))
            let scheduler = Self.scheduler(store, clock)

            clock.advance(to: now.addingTimeInterval(3 * Self.day - 60))
            #expect(await scheduler.startDueRotations().isEmpty)
            clock.advance(by: 60)
            let started = await scheduler.startDueRotations()
            let startedID = try #require(started.first)
            let job = try #require(try await store.job(startedID))
            #expect(job.trigger == Trigger(kind: .schedule, source: "before_expiry"))
        }
    }

    @Test("not double-started: a restart over the same file, and a second scheduler at once, start nothing more")
    func notDoubleStartedAcrossRestart() async throws {
        try await Database.with { database in
            let clock = TestClock()
            let now = clock.now()
            let credentialID: CredentialID
            let firstJob: JobID
            do {
                let store = try await database.open()
                let credential = try await Self.makeCredential(store, at: now, schedule: try Self.every("P1D"))
                credentialID = credential.id
                clock.advance(to: now.addingTimeInterval(Self.day))
                // Two schedulers over the same store race for the same due rotation.
                let first = Self.scheduler(store, clock)
                let second = Self.scheduler(try await database.open(), clock)
                async let a = first.startDueRotations()
                async let b = second.startDueRotations()
                let started = await a + b
                #expect(started.count == 1)
                firstJob = try #require(started.first)
                // The job ends without success (here: cancelled while queued); the credential is
                // active again and its due time has passed, yet it must not start again at once.
                _ = try await store.requestCancel(firstJob, at: clock.now())
                #expect(try await store.credential(credentialID)?.state == .active)
            }

            // "Restart": a new store and scheduler over the same file, at the same instant.
            let store = try await database.open()
            let scheduler = Self.scheduler(store, clock)
            #expect(await scheduler.startDueRotations().isEmpty)
            #expect(try await store.jobs(JobFilter(credentialID: credentialID), PageRequest()).items.map(\.id) == [firstJob])

            // The retry interval later, the schedule tries again.
            clock.advance(by: 3600)
            let retried = await scheduler.startDueRotations()
            #expect(retried.count == 1)
            #expect(retried.first != firstJob)
            #expect(try await store.jobs(JobFilter(credentialID: credentialID), PageRequest()).items.count == 2)
        }
    }

    @Test("disabled credentials (and ones without a schedule) are skipped; disabling clears next_rotation_at")
    func disabledSkipped() async throws {
        try await Database.with { database in
            let store = try await database.open()
            let clock = TestClock()
            let now = clock.now()
            let unscheduled = try await Self.makeCredential(store, at: now, schedule: nil)
            #expect(unscheduled.nextRotationAt == nil)
            var disabled = try await Self.makeCredential(store, at: now, schedule: try Self.every("P1D"))
            // Disabled after the schedule set a due time: the stored cursor stays, the state rules.
            disabled.state = .disabled
            try await store.updateCredential(disabled, signingSecrets: nil)
            #expect(disabled.scheduledRotationAt() == nil)

            clock.advance(by: 10 * Self.day)
            let scheduler = Self.scheduler(store, clock)
            #expect(await scheduler.startDueRotations().isEmpty)
            #expect(try await store.jobs(JobFilter(), PageRequest()).items.isEmpty)

            disabled.state = .active
            disabled.nextRotationAt = disabled.scheduledRotationAt()
            try await store.updateCredential(disabled, signingSecrets: nil)
            #expect(await scheduler.startDueRotations().count == 1)
        }
    }

    @Test("the run loop sleeps on the clock and starts a job when time reaches the due time")
    func runLoopWakesOnClock() async throws {
        try await Database.with { database in
            let store = try await database.open()
            let clock = TestClock()
            let credential = try await Self.makeCredential(store, at: clock.now(), schedule: try Self.every("PT1H"))
            let started = AsyncStream<JobID>.makeStream()
            let scheduler = Self.scheduler(store, clock) { started.continuation.yield($0) }
            let task = Task { try await scheduler.run() }
            defer { task.cancel() }

            // Let it look once and go to sleep, then run time forward in poll-sized steps.
            for _ in 0..<200 where clock.sleeping == 0 { try await Task.sleep(for: .milliseconds(5)) }
            #expect(clock.sleeping == 1)
            #expect(try await store.jobs(JobFilter(), PageRequest()).items.isEmpty)
            for _ in 0..<120 {
                clock.advance(by: 30)
                for _ in 0..<200 where clock.sleeping == 0 { try await Task.sleep(for: .milliseconds(1)) }
            }
            var iterator = started.stream.makeAsyncIterator()
            let id = try #require(await iterator.next())
            #expect(try await store.job(id)?.credentialID == credential.id)
            #expect(try await store.jobs(JobFilter(), PageRequest()).items.count == 1)
        }
    }

    @Test("a scheduled rotation runs to success, and the next one is computed from its end")
    func successReschedules() async throws {
        try await EngineHarness.with { h in
            var (credential, _) = try await h.makeCredential()
            credential.schedule = try Self.every("P30D")
            credential.nextRotationAt = Date().addingTimeInterval(-1)
            try await h.store.updateCredential(credential, signingSecrets: nil)
            let engine = h.engine
            let scheduler = RotationScheduler(store: h.store, jobStarted: { _ in await engine.wake() }, logger: Logger(label: "scheduler-test"))

            let started = await scheduler.startDueRotations()
            let job = try await h.waitFor(try #require(started.first))
            #expect(job.state == .succeeded)
            #expect(job.trigger.kind == .schedule)
            let stored = try #require(try await h.store.credential(credential.id))
            let rotated = try #require(stored.lastRotatedAt)
            #expect(stored.nextRotationAt == rotated.addingTimeInterval(30 * Self.day))
            #expect(stored.version == 2)
            #expect(await scheduler.startDueRotations().isEmpty)
        }
    }

    @Test("a scheduled rotation that rolls back keeps the retry time, so it is not started again at once")
    func rollbackKeepsRetryTime() async throws {
        try await EngineHarness.with { h in
            var (credential, _) = try await h.makeCredential()
            credential.schedule = try Self.every("P30D")
            credential.nextRotationAt = Date().addingTimeInterval(-1)
            try await h.store.updateCredential(credential, signingSecrets: nil)
            h.receiver.answer("/hook", with: .badRequest)
            let engine = h.engine
            let scheduler = RotationScheduler(
                store: h.store, configuration: SchedulerConfiguration(retryInterval: 3600), jobStarted: { _ in await engine.wake() },
                logger: Logger(label: "scheduler-test")
            )
            let before = Date()
            let started = await scheduler.startDueRotations()
            let job = try await h.waitFor(try #require(started.first))
            #expect(job.state == .rolledBack)
            let stored = try #require(try await h.store.credential(credential.id))
            #expect(stored.state == .active)
            #expect(stored.lastRotatedAt == nil)
            let retryAt = try #require(stored.nextRotationAt)
            #expect(retryAt >= before.addingTimeInterval(3600) && retryAt <= Date().addingTimeInterval(3600))
            #expect(await scheduler.startDueRotations().isEmpty)
        }
    }
}
