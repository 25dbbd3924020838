import FakeVultr
import Foundation
import Logging
import RotorAPI
import RotorAssembly
import RotorCore
import RotorCrypto
import RotorEngine

/// What ``JobRoutesTests`` and ``LiveRotor`` start from: Rotor as `rotor serve` assembles it
/// (``RotorAssembly``) on SQLite in a temporary directory and a running ``FakeVultr``, with one
/// credential on a fake user's key; its engine is not started.
struct EngineFixture: Sendable {
    /// The assembly: store, engine (polling every 20 ms once run), services, responder.
    let assembly: RotorAssembly
    /// The fake Vultr, running.
    let fake: FakeVultr
    /// The registered credential.
    let credential: Credential
    /// Its current key's plaintext.
    let apiKey: String

    /// The store.
    var store: any RotorStore { self.assembly.store }
    /// The engine, not started.
    var engine: RotationEngine { self.assembly.engine }
    /// The services the API calls; the engine is woken through them.
    var services: RotationServices { self.assembly.services }

    /// Runs `body` against a fresh fixture whose credential is `name`; `configure` may change the
    /// assembly's settings (GitHub's keys, rate limits). FakeVultr and the assembly's clients stop
    /// and the directory is removed afterwards.
    static func with(
        name: String, configure: @escaping @Sendable (inout RotorAssembly.Settings) -> Void = { _ in },
        _ body: @Sendable (EngineFixture) async throws -> Void
    ) async throws {
        let fake = FakeVultr(configuration: .init(rateLimitPerSecond: nil))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await fake.run { vultrURL in
            var settings = RotorAssembly.Settings(
                dataDirectory: directory.path,
                keyring: Keyring.generate(),
                adminToken: AuthTests.token,
                vultrBaseURL: vultrURL,
                retry: RetryPolicy(base: .milliseconds(10), maximum: .milliseconds(50), attemptsPerStep: 3),
                maxConcurrentJobs: EngineConfiguration().maxConcurrentJobs,
                pollInterval: .milliseconds(20),
                // The tests' targets and subscribers listen on loopback.
                outboundPolicy: .loopbackAllowed,
                accessLogLevel: .trace
            )
            configure(&settings)
            try await RotorAssembly.with(settings, logger: Logger(label: "engine")) { assembly in
                let (userID, apiKey) = fake.addUser()
                let key = fake.keys(ofUser: userID)[0]
                let now = Date()
                let credential = Credential(
                    id: .generate(), name: name, provider: .vultr,
                    current: KeyInfo(providerKeyID: key.id, fingerprint: SHA256.fingerprint(of: apiKey), createdAt: now),
                    createdAt: now, updatedAt: now
                )
                try await assembly.store.createCredential(credential, secrets: CredentialSecrets(current: Secret(apiKey)))
                try await body(EngineFixture(assembly: assembly, fake: fake, credential: credential, apiKey: apiKey))
            }
        }
    }
}
