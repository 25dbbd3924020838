import FakeVultr
import Foundation
import NIOHTTP1
import RotorCore
import RotorCrypto
import RotorEngine
import RotorSQLite
import RotorStorage
import Synchronization
import Testing

/// Rotating the keyring (DESIGN.md §3) under a store the engine keeps using: issue 5's
/// "after rewrap under a new KEK and removal of the old one, every secret still opens and a
/// rotation still succeeds".
@Suite(.timeLimit(.minutes(1))) struct KeyringRotationTests {
    private struct Seeded: Sendable {
        var credentialID: CredentialID
        var userID: String
        var signing: WebhookSecret
    }

    @Test("after rewrap under a new KEK and removal of the old one, every secret opens and a rotation succeeds")
    func rotationAfterRewrap() async throws {
        let fake = FakeVultr(configuration: FakeVultr.Configuration(rateLimitPerSecond: nil))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-keyring-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("rotor.sqlite").path
        let old = Keyring.generate(id: "kek-old")

        // A credential rotated once under kek-old: current key, target signing secret.
        let seeded = Mutex<Seeded?>(nil)
        try await EngineHarness.with(keyring: old, dataDirectory: directory.path, fake: fake) { h in
            let (credential, _) = try await h.makeCredential()
            let job = try await h.waitFor(try await h.rotate(credential))
            #expect(job.state == .succeeded)
            seeded.withLock { $0 = Seeded(credentialID: credential.id, userID: h.userID, signing: h.signing) }
        }
        let seed = try #require(seeded.withLock { $0 })

        // `rotor keyring add` + `rotor keyring rewrap`, offline.
        let both = try old.adding(Keyring.generateKey(id: "kek-new"), makeActive: true)
        let result = try await EnvelopeRewrap.run(store: try await SQLiteStore.connect(path: database, keyring: both))
        #expect(result.isComplete)
        #expect(result.rewrapped == 2)
        #expect(result.failures.isEmpty)

        // `rotor keyring remove kek-old`: the engine runs with the new key only.
        let newOnly = try both.removing(id: "kek-old")
        try await EngineHarness.with(keyring: newOnly, dataDirectory: directory.path, fake: fake) { h in
            #expect(try await h.store.missingEnvelopeKeyIDs() == [])
            #expect(try await h.store.envelopeCountsByKeyID() == ["kek-new": 2])
            let before = try await h.store.credentialSecrets(seed.credentialID)
            let providerKeys = h.fake.keys(ofUser: seed.userID)
            #expect(providerKeys.map(\.secret) == [before.current.reveal()])
            #expect(before.signingSecrets.values.map { $0.reveal() } == [seed.signing.encoded])

            // The target moves to this harness's receiver; its signing secret stays.
            var credential = try #require(try await h.store.credential(seed.credentialID))
            credential.targets[0].url = h.receiverURL + "/hook"
            credential.targets[0].verifyURL = h.receiverURL + "/verify"
            try await h.store.updateCredential(credential, signingSecrets: nil)

            let job = try await h.waitFor(try await h.rotate(credential))
            #expect(job.state == .succeeded, "\(String(describing: job.error))")
            let newKey = try #require(job.newKey)
            let keys = h.fake.keys(ofUser: seed.userID)
            #expect(keys.map(\.id) == [newKey.providerKeyID])
            let after = try await h.store.credentialSecrets(seed.credentialID)
            #expect(after.current.reveal() == keys[0].secret)

            // key.pending was signed with the re-wrapped signing secret.
            let pending = try #require(h.receiver.all.first { $0.path == "/hook" })
            #expect(pending.type == "key.pending")
            try StandardWebhooks.verify(
                id: try #require(pending.headers["webhook-id"].first), timestamp: try #require(pending.headers["webhook-timestamp"].first),
                signatureHeader: try #require(pending.headers["webhook-signature"].first), body: pending.body, secrets: [seed.signing],
                now: Date()
            )
            // Everything the rotation sealed is under the new key.
            #expect(try await h.store.envelopeCountsByKeyID().keys.sorted() == ["kek-new"])
            #expect(try await h.store.verifyEnvelopes().failures.isEmpty)
        }
    }
}
