import FakeVultr
import Foundation
import Logging
import RotorCore
import RotorCrypto
import RotorEngine
import RotorPostgres
@testable import rotor
import Testing
import RotorAssembly

/// Issue 6, wake-ups: an engine learns of a job another instance created through LISTEN/NOTIFY,
/// not by polling. Its poll interval here is a minute, so only the notification can start the
/// job within seconds.
@Suite(.enabled(if: MultiInstanceDatabase.url != nil, "ROTOR_TEST_DATABASE_URL is not set: the wake-up test did NOT run"), .timeLimit(.minutes(1)))
struct PostgresWakeTests {
    static let logger = Logger(label: "rotor.wake-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test("a job created by another instance starts at once, though the engine polls only every minute")
    func notifiedEngineStartsJob() async throws {
        let schema = try await TestSchema.create("test_wake_")
        let url = schema.url
        let keyring = Keyring.generate()
        let dataDirectory = NSTemporaryDirectory() + "rotor-wake-\(UUID().uuidString)"
        try DataDirectory.prepare(dataDirectory)

        let fake = FakeVultr(configuration: .init(rateLimitPerSecond: nil))
        try await fake.run { vultrURL in
            let (userID, apiKey) = fake.addUser()
            let assembly = try await RotorAssembly(
                RotorAssembly.Settings(
                    dataDirectory: dataDirectory, keyring: keyring, adminToken: ServeConfigurationTests.token, vultrBaseURL: vultrURL,
                    retry: RetryPolicy(base: .milliseconds(50), maximum: .milliseconds(200), attemptsPerStep: 4), maxConcurrentJobs: 4,
                    pollInterval: .seconds(60), databaseURL: url),
                logger: Self.logger)
            let engine = Task { try await assembly.engine.run() }
            // The engine's first claim finds nothing; from then on it waits for a wake-up.
            try await Task.sleep(for: .milliseconds(300))

            let other = try await PostgresStore.connect(url: url, keyring: keyring, maximumConnections: 2, logger: Self.logger)
            let now = Date()
            let key = try #require(fake.keys(ofUser: userID).first)
            let credential = Credential(
                id: .generate(), name: "woken", provider: .vultr,
                current: KeyInfo(providerKeyID: key.id, fingerprint: SHA256.fingerprint(of: apiKey), createdAt: now),
                targets: [], labels: [:], createdAt: now, updatedAt: now)
            try await other.createCredential(credential, secrets: CredentialSecrets(current: Secret(apiKey)))
            let job = NewJob(
                credentialID: credential.id, trigger: Trigger(kind: .api, source: "test"), reason: nil,
                gracePeriod: ISODuration(seconds: 0), at: now)
            _ = try await other.createJob(job, idempotencyKey: nil, requestFingerprint: nil, events: [])

            let deadline = ContinuousClock.now + .seconds(10)
            var state = JobState.queued
            while ContinuousClock.now < deadline {
                state = try await other.job(job.id)?.state ?? .queued
                if state.isTerminal { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(state == .succeeded, "the job is \(state) 10 s after another instance created it")
            #expect(fake.keys(ofUser: userID).map(\.name) == ["rotor-\(job.id)"])

            await assembly.engine.stop()
            _ = try? await engine.value
            try await assembly.shutdownClients()
            other.shutdown()
        }
        try? FileManager.default.removeItem(atPath: dataDirectory)
        try await schema.drop()
    }
}
