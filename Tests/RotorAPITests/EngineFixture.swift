import AsyncHTTPClient
import FakeVultr
import Foundation
import Logging
import RotorAPI
import RotorCore
import RotorCrypto
import RotorEngine
import RotorProviders
import RotorSQLite

/// What ``JobRoutesTests`` and ``LiveRotor`` start from: a SQLite store in a temporary directory,
/// one credential on a ``FakeVultr`` user's key, and an engine (not started) and the API's
/// services over them.
struct EngineFixture: Sendable {
    /// The store.
    let store: SQLiteStore
    /// The fake Vultr, running.
    let fake: FakeVultr
    /// The registered credential.
    let credential: Credential
    /// Its current key's plaintext.
    let apiKey: String
    /// The engine, polling every 20 ms once run; the services wake it.
    let engine: RotationEngine
    /// The services the API calls.
    let services: RotationServices

    /// Runs `body` against a fresh fixture whose credential is `name` and whose engine leases as
    /// `owner`; FakeVultr stops and the directory is removed afterwards.
    static func with(name: String, owner: String, _ body: @Sendable (EngineFixture) async throws -> Void) async throws {
        let fake = FakeVultr(configuration: .init(rateLimitPerSecond: nil))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("rotor.sqlite").path, keyring: Keyring.generate())
        try await fake.run { vultrURL in
            let (userID, apiKey) = fake.addUser()
            let key = fake.keys(ofUser: userID)[0]
            let now = Date()
            let credential = Credential(
                id: .generate(), name: name, provider: .vultr,
                current: KeyInfo(providerKeyID: key.id, fingerprint: SHA256.fingerprint(of: apiKey), createdAt: now),
                createdAt: now, updatedAt: now
            )
            try await store.createCredential(credential, secrets: CredentialSecrets(current: Secret(apiKey)))
            let providers: [ProviderKind: any Provider] = [.vultr: VultrProvider(baseURL: vultrURL)]
            let engine = RotationEngine(
                store: store, providers: providers, delivery: WebhookDelivery(policy: .loopbackAllowed),
                configuration: EngineConfiguration(
                    owner: owner, pollInterval: .milliseconds(20),
                    retry: RetryPolicy(base: .milliseconds(10), maximum: .milliseconds(50), attemptsPerStep: 3)),
                fingerprint: { SHA256.fingerprint(of: $0.reveal()) }, logger: Logger(label: "engine")
            )
            var services = RotationServices(store: store, providers: providers, wakeEngine: { await engine.wake() })
            services.outboundPolicy = .loopbackAllowed
            try await body(
                EngineFixture(store: store, fake: fake, credential: credential, apiKey: apiKey, engine: engine, services: services))
        }
    }
}
