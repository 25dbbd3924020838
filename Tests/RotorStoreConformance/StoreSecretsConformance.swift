import Foundation
import RotorCore
import RotorCrypto
import Testing

/// Secrets at rest (DESIGN.md §3) in every store: only envelopes are stored, and they open only
/// with the keyring that sealed them.
package struct StoreSecretsConformance: Sendable {
    package init() {}

    static let plaintexts = [
        "PLAINTEXT-CURRENT-KEY-1234567890ABCD",
        "PLAINTEXT-PREVIOUS-KEY-1234567890ABC",
        "whsec_PLAINTEXT-SIGNING-SECRET-12345",
        "PLAINTEXT-PENDING-KEY-1234567890ABCD",
    ]

    private func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        let bytes = Array(needle.utf8)
        guard haystack.count >= bytes.count else { return false }
        for start in 0...(haystack.count - bytes.count) where haystack[start] == bytes[0] {
            if haystack[start..<(start + bytes.count)].elementsEqual(bytes) { return true }
        }
        return false
    }

    package func noPlaintextStored(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = Sample.credential(name: "secure")
            try await store.createCredential(
                credential,
                secrets: CredentialSecrets(
                    current: Secret(Self.plaintexts[0]), previous: Secret(Self.plaintexts[1]),
                    signingSecrets: [credential.targets[0].id: Secret(Self.plaintexts[2])]))
            var job = try await store.addJob(for: credential)
            _ = try await store.claimJobs(owner: "A", now: Sample.t0, leaseUntil: Sample.t0.addingTimeInterval(60), limit: 1)
            try job.start(at: Sample.t0)
            try await store.commit(RotationCommit(job: job, pendingKey: .set(Secret(Self.plaintexts[3]))), owner: "A")

            let stored = try await subject.storedBytes()
            // Sanity check that the search works: metadata is stored in clear.
            let sanity = contains(stored, "secure")
            #expect(sanity)
            for plaintext in Self.plaintexts {
                for needle in [plaintext, Data(plaintext.utf8).base64EncodedString()] {
                    // A boolean first, so that a failure does not print the stored bytes.
                    let found = contains(stored, needle)
                    #expect(!found, "found a secret in the store")
                }
            }
            #expect(try await store.rotation(job.id).pendingKey == Secret(Self.plaintexts[3]))
            #expect(try await store.credentialSecrets(credential.id).current == Secret(Self.plaintexts[0]))
        }
    }

    package func reopenWithoutKEK(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let credential = try await subject.store.addCredential()

            let reopened = try await subject.reopen(subject.keyring)
            #expect(try await reopened.credential(credential.id) == credential)
            #expect(try await reopened.credentialSecrets(credential.id).current == Sample.currentSecret(of: credential))

            let stranger = try await subject.reopen(.generate(id: "other-kek"))
            #expect(try await stranger.credential(credential.id) == credential)
            let error = await #expect(throws: CryptoError.self) { _ = try await stranger.credentialSecrets(credential.id) }
            #expect(error?.code == .unknownKey)
            #expect(String(describing: error).contains(subject.keyring.activeKeyID))
        }
    }
}
