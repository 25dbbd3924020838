import ChildProcess
import Foundation
import Logging
import Prometheus
import RotorCore
import RotorCrypto
import RotorEngine
import RotorSQLite
import Testing

/// The retention service: a pass at start and one per interval on the clock, batch by batch,
/// counted in `rotor_retention_pruned_rows_total{kind}`.
@Suite(.timeLimit(.minutes(1))) struct RetentionServiceTests {
    @Test("hook deliveries are kept for their 24 h replay window even with a shorter retention")
    func hookReplayWindow() {
        let now = Date(timeIntervalSinceReferenceDate: 800_000_000)
        let short = RetentionPolicy(age: 3600)
        #expect(short.cutoff(for: .hookDeliveries, now: now) == now.addingTimeInterval(-86_400))
        #expect(short.cutoff(for: .targetDeliveries, now: now) == now.addingTimeInterval(-3600))
        #expect(short.cutoff(for: .outbox, now: now) == now.addingTimeInterval(-3600))
        #expect(RetentionPolicy().cutoff(for: .hookDeliveries, now: now) == now.addingTimeInterval(-30 * 86_400))
        #expect(RetentionPolicy(batchSize: 0).batchSize == 1)
    }

    @Test("prunes at start in batches until nothing old is left, then again after each interval, counting the rows")
    func periodicPasses() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-retention-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try await SQLiteStore.connect(path: directory.appendingPathComponent("rotor.sqlite").path, keyring: .generate())
        let clock = TestClock()
        let day: TimeInterval = 86_400

        let now = clock.now()
        let credential = Credential(
            id: .generate(), name: "retained", provider: .vultr,
            current: KeyInfo(providerKeyID: "key-1", fingerprint: "sha256:000000000001", createdAt: now), createdAt: now, updatedAt: now)
        try await store.createCredential(credential, secrets: CredentialSecrets(current: Secret("retained-key")))
        guard case .created(let job) = try await store.createJob(
            NewJob(credentialID: credential.id, trigger: Trigger(kind: .api), at: now), idempotencyKey: nil, requestFingerprint: nil, events: [])
        else { throw CancellationError() }
        let target = TargetID.generate()
        func log(at time: Date, count: Int) async throws {
            for attempt in 1...count {
                try await store.recordDelivery(
                    TargetDeliveryRecord(
                        jobID: job.id, targetID: target, eventType: "key.pending", attempt: attempt, statusCode: 200, durationMs: 1,
                        error: nil, at: time))
            }
        }
        // 250 log rows 40 days old, 2 that turn 30 days old within the next hour, 3 fresh ones.
        try await log(at: now.addingTimeInterval(-40 * day), count: 250)
        try await log(at: now.addingTimeInterval(-30 * day + 1800), count: 2)
        try await log(at: now.addingTimeInterval(-day), count: 3)

        let registry = PrometheusCollectorRegistry()
        let service = RetentionService(
            store: store, clock: clock, policy: RetentionPolicy(age: 30 * day, batchSize: 100), interval: 3600,
            metrics: PrometheusMetricsFactory(registry: registry), logger: Logger(label: "retention"))
        let series = #"rotor_retention_pruned_rows_total{kind="target_deliveries"}"#
        @Sendable func pruned() -> Double? { EngineMetricsTests.value(registry.emitToString(), series) }
        func remaining() async throws -> Int { try await store.deliveries(job.id, PageRequest(limit: 200)).items.count }

        let running = Task { try await service.run() }
        defer { running.cancel() }
        // The pass at start: 250 rows in three transactions of at most 100.
        try await Poll.until("the first pass pruned 250 rows and sleeps") { pruned() == 250 && clock.sleeping == 1 }
        #expect(try await remaining() == 5)
        #expect(EngineMetricsTests.value(registry.emitToString(), #"rotor_retention_pruned_rows_total{kind="outbox"}"#) == 0)

        // Nothing happens before the interval is over...
        clock.advance(by: 3599)
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await remaining() == 5)
        // ...then the next pass takes the two rows that have turned 30 days old.
        clock.advance(by: 1)
        try await Poll.until("the next pass pruned 2 more and sleeps") { pruned() == 252 && clock.sleeping == 1 }
        #expect(try await remaining() == 3)
    }
}
