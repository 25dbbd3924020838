import Foundation
import RotorCore
import RotorCrypto
import RotorStore

/// A fresh store and a way to dispose of it. Tests that only use ``Store`` go through
/// ``makeStore()`` so the same suite can run against every implementation.
struct StoreUnderTest {
    var store: any Store
    var cleanup: @Sendable () -> Void
}

/// A SQLite store in its own temporary directory.
struct SQLiteFixture {
    var store: SQLiteStore
    var path: String
    var directory: URL
    var keyring: Keyring

    init(keyring: Keyring = .generate()) throws {
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        self.path = self.directory.appendingPathComponent("rotor.sqlite").path
        self.keyring = keyring
        self.store = try SQLiteStore(path: self.path, keyring: keyring)
    }

    var cleanup: @Sendable () -> Void {
        let directory = self.directory
        return { try? FileManager.default.removeItem(at: directory) }
    }
}

func makeStore() throws -> StoreUnderTest {
    let fixture = try SQLiteFixture()
    return StoreUnderTest(store: fixture.store, cleanup: fixture.cleanup)
}

/// Sample values. Times have sub-microsecond fractions on purpose: the store must give back
/// exactly the `Date` it was given.
enum Sample {
    static let t0 = Date(timeIntervalSinceReferenceDate: 820_000_000.123_456_789)

    static func key(_ id: String, at date: Date = t0) -> KeyInfo {
        KeyInfo(providerKeyID: id, fingerprint: "sha256:\(id.prefix(12))", createdAt: date, expiresAt: date.addingTimeInterval(86_400 * 90))
    }

    static func credential(name: String = "cred-\(UUID().uuidString.prefix(8))", targets: Int = 1, at date: Date = t0) -> Credential {
        Credential(
            id: .generate(),
            name: name,
            provider: .vultr,
            current: key("key-current", at: date),
            targets: (0..<targets).map { index in
                Target(id: .generate(), url: "https://consumer\(index).example/hook", verifyURL: index == 0 ? "https://consumer0.example/ok" : nil)
            },
            labels: ["team": "payments"],
            createdAt: date,
            updatedAt: date
        )
    }

    static func secrets(for credential: Credential, current: String = "current-secret") -> CredentialSecrets {
        CredentialSecrets(
            current: Secret(current),
            signingSecrets: Dictionary(uniqueKeysWithValues: credential.targets.map { ($0.id, Secret("whsec_\($0.id.rawValue)")) })
        )
    }

    static func job(for credential: Credential, at date: Date = t0) -> Job {
        Job(
            credentialID: credential.id,
            trigger: Trigger(kind: .api, source: "tok_test"),
            reason: "scheduled test",
            gracePeriod: ISODuration(seconds: 300),
            oldKey: credential.current,
            targets: credential.targets.map(\.id),
            at: date
        )
    }

    static func event(_ type: String, at date: Date = t0, step: JobStep? = nil) -> JobEvent {
        JobEvent(at: date, type: type, step: step, message: "\(type) happened")
    }
}

extension Store {
    /// Stores a sample credential with its secrets.
    func addCredential(name: String = "cred-\(UUID().uuidString.prefix(8))", targets: Int = 1) async throws -> Credential {
        let credential = Sample.credential(name: name, targets: targets)
        try await self.createCredential(credential, secrets: Sample.secrets(for: credential))
        return credential
    }

    /// Stores a queued job for `credential` and returns it as stored.
    func addJob(for credential: Credential, at date: Date = Sample.t0, events: [JobEvent] = []) async throws -> Job {
        switch try await self.createJob(Sample.job(for: credential, at: date), idempotencyKey: nil, requestFingerprint: nil, events: events) {
        case .created(let job): return job
        case .replayed: throw StoreError(.conflict, message: "unexpected replay")
        }
    }
}
