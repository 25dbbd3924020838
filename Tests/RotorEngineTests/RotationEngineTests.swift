import FakeVultr
import Foundation
import NIOHTTP1
import RotorCore
import RotorCrypto
import RotorEngine
import RotorSQLite
import Testing

/// Each terminal state's guarantee (DESIGN.md §2), end to end over real sockets and SQLite.
@Suite(.timeLimit(.minutes(1))) struct RotationEngineTests {
    @Test("success: the new key is current and works, the old key is gone, targets got the key, version +1")
    func success() async throws {
        try await EngineHarness.with { h in
            let (credential, _) = try await h.makeCredential()
            let old = h.originalKey
            let id = try await h.rotate(credential)
            let job = try await h.waitFor(id)
            #expect(job.state == .succeeded)
            let newKey = try #require(job.newKey)

            // The fake holds exactly the new key; the old one is deleted.
            let keys = h.fake.keys(ofUser: h.userID)
            #expect(keys.map(\.id) == [newKey.providerKeyID])
            #expect(h.fake.key(id: old.id) == nil)

            // The store's current key is the fake's new key.
            let stored = try #require(try await h.store.credential(credential.id))
            #expect(stored.version == 2)
            #expect(stored.state == .active)
            #expect(stored.current.providerKeyID == newKey.providerKeyID)
            #expect(stored.previous == nil)
            #expect(try await h.store.credentialSecrets(credential.id).current.reveal() == keys[0].secret)
            #expect(stored.current.fingerprint == SHA256.fingerprint(of: keys[0].secret))

            // The target got key.pending with the new secret, signed, then key.revoked.
            let hooks = h.receiver.all.filter { $0.path == "/hook" }
            #expect(hooks.map(\.type) == ["key.pending", "key.revoked"])
            // Handing the target the new key is audited as a disclosure naming the target, by
            // the engine; key.revoked carries no key and is not.
            let disclosures = try await h.store.auditEntries(PageRequest(limit: 200)).items.map(\.record).filter { $0.action == "secret.disclose" }
            #expect(disclosures.map(\.resource) == credential.targets.map(\.id.rawValue))
            #expect(disclosures.first?.actor == "engine")
            #expect(disclosures.first?.outcome == "sent, answered 200")
            let pending = try #require(hooks.first)
            try StandardWebhooks.verify(
                id: try #require(pending.headers["webhook-id"].first), timestamp: try #require(pending.headers["webhook-timestamp"].first),
                signatureHeader: try #require(pending.headers["webhook-signature"].first), body: pending.body, secrets: [h.signing], now: Date()
            )
            #expect(String(decoding: pending.body, as: UTF8.self).contains(keys[0].secret))
            #expect(h.receiver.all.contains { $0.path == "/verify" })

            let steps = try await h.store.events(id).filter { $0.type == "step.succeeded" }.compactMap(\.step)
            #expect(steps == [.create, .distribute, .verify, .grace, .revoke])
            #expect(job.targets.allSatisfy { $0.state == .verified })
        }
    }

    @Test("back to back: a job queued from a read taken before the previous rotation ended revokes the key that rotation made current; one live key remains")
    func backToBack() async throws {
        try await EngineHarness.with { h in
            let (credential, _) = try await h.makeCredential()
            // A caller reads the credential, then the previous rotation runs to its end...
            let callerRead = try #require(try await h.store.credential(credential.id))
            let first = try await h.waitFor(try await h.rotate(credential))
            #expect(first.state == .succeeded)
            let between = try #require(first.newKey)

            // ...and the caller queues its rotation on what it read.
            let second = try await h.waitFor(try await h.rotate(callerRead))
            #expect(second.state == .succeeded)
            #expect(second.oldKey.providerKeyID == between.providerKeyID)
            let last = try #require(second.newKey)
            #expect(h.fake.keys(ofUser: h.userID).map(\.id) == [last.providerKeyID])
            #expect(h.fake.key(id: between.providerKeyID) == nil)
            #expect(try await h.store.credential(credential.id)?.current.providerKeyID == last.providerKeyID)
        }
    }

    @Test("a permanent failure in create rolls back: nothing changes anywhere")
    func createRejected() async throws {
        try await EngineHarness.with { h in
            let (credential, _) = try await h.makeCredential()
            h.fake.failNext(1, status: .forbidden, on: .create)
            let job = try await h.waitFor(try await h.rotate(credential))
            #expect(job.state == .rolledBack)
            #expect(job.error?.step == .create)
            #expect(h.fake.keys(ofUser: h.userID).map(\.id) == [h.originalKey.id])
            let stored = try #require(try await h.store.credential(credential.id))
            #expect(stored.version == 1 && stored.state == .active && stored.current == credential.current)
        }
    }

    @Test("a target refusing the key rolls back and deletes the new key at the provider")
    func distributeRejected() async throws {
        try await EngineHarness.with { h in
            let (credential, _) = try await h.makeCredential()
            h.receiver.answer("/hook", with: .badRequest)
            let job = try await h.waitFor(try await h.rotate(credential))
            #expect(job.state == .rolledBack)
            #expect(job.error?.code == "target_failed")
            #expect(h.fake.keys(ofUser: h.userID).map(\.id) == [h.originalKey.id])
            #expect(try await h.store.credentialSecrets(credential.id).current.reveal() == h.originalKey.secret)
        }
    }

    @Test("a verify URL that refuses rolls back, deletes the new key, and tells the target key.rolled_back")
    func verifyRejected() async throws {
        try await EngineHarness.with { h in
            let (credential, _) = try await h.makeCredential()
            h.receiver.answer("/verify", with: .notFound)
            let job = try await h.waitFor(try await h.rotate(credential))
            #expect(job.state == .rolledBack)
            #expect(job.error?.step == .verify)
            #expect(h.fake.keys(ofUser: h.userID).map(\.id) == [h.originalKey.id])
            #expect(h.receiver.all.filter { $0.path == "/hook" }.map(\.type) == ["key.pending", "key.rolled_back"])
            #expect(try await h.store.credential(credential.id)?.version == 1)
        }
    }

    @Test("revoke failing for good ends failed with the credential in attention; both keys are kept and recorded")
    func revokeFails() async throws {
        try await EngineHarness.with { h in
            let (credential, _) = try await h.makeCredential()
            h.fake.failNext(50, status: .forbidden, on: .delete)
            let job = try await h.waitFor(try await h.rotate(credential))
            #expect(job.state == .failed)
            #expect(job.error?.code == "revoke_failed")
            #expect(job.error?.message.contains("delete the old key") == true)
            let stored = try #require(try await h.store.credential(credential.id))
            #expect(stored.state == .attention)
            #expect(stored.current.providerKeyID == job.newKey?.providerKeyID)
            #expect(stored.previous?.providerKeyID == h.originalKey.id)
            // No key is lost: both exist at the provider and both are recorded, encrypted.
            #expect(h.fake.keys(ofUser: h.userID).count == 2)
            let secrets = try await h.store.credentialSecrets(credential.id)
            #expect(secrets.previous?.reveal() == h.originalKey.secret)
        }
    }

    @Test("a job set aside to wait resumes when it falls due, not at the engine's next poll: a grace period, then a retry's backoff, with the poll a minute away")
    func resumesWhenDue() async throws {
        try await EngineHarness.with(pollInterval: .seconds(60)) { h in
            let (credential, _) = try await h.makeCredential()
            h.fake.failNext(1, status: .serviceUnavailable, on: .delete)
            let id = try await h.rotate(credential, grace: try ISODuration(parsing: "PT1S"))
            // `waitFor` gives up after 30 s, half the poll: only the due times can end the job.
            let job = try await h.waitFor(id)
            #expect(job.state == .succeeded)
            let finished = try #require(job.finishedAt)
            #expect(finished.timeIntervalSince(try #require(job.graceEndsAt)) < 10)
            let events = try await h.store.events(id)
            #expect(events.contains { $0.type == "step.retry" && $0.step == .revoke })
        }
    }

    @Test("5xx and 429 are retried and the rotation still succeeds")
    func transientErrorsRetried() async throws {
        try await EngineHarness.with { h in
            let (credential, _) = try await h.makeCredential()
            h.fake.failNext(2, status: .serviceUnavailable, on: .create)
            h.fake.rateLimitNext(1, retryAfter: nil, on: .delete)
            let id = try await h.rotate(credential)
            let job = try await h.waitFor(id)
            #expect(job.state == .succeeded)
            let retries = try await h.store.events(id).filter { $0.type == "step.retry" }
            #expect(retries.count == 3)
            #expect(h.fake.keys(ofUser: h.userID).count == 1)
        }
    }

    @Test("a create whose answer is lost leaves an orphan that the next attempt deletes before creating again")
    func orphanFromDroppedCreate() async throws {
        try await EngineHarness.with { h in
            let (credential, _) = try await h.makeCredential()
            h.fake.dropAfterCreate(1)
            let id = try await h.rotate(credential)
            let job = try await h.waitFor(id)
            #expect(job.state == .succeeded)
            #expect(h.fake.requestCounts(.create).succeeded == 2)
            let keys = h.fake.keys(ofUser: h.userID)
            #expect(keys.map(\.id) == [job.newKey?.providerKeyID])
            #expect(try await h.store.events(id).contains { $0.type == "key.orphan_deleted" })
        }
    }

    @Test("cancel during grace makes the old key current again, deletes the new key, and ends cancelled")
    func cancelDuringGrace() async throws {
        try await EngineHarness.with { h in
            let (credential, _) = try await h.makeCredential()
            let id = try await h.rotate(credential, grace: try ISODuration(parsing: "PT60S"))
            try await h.waitFor(id) { $0.step == .grace && $0.graceEndsAt != nil }
            #expect(try await h.store.credential(credential.id)?.version == 2)
            _ = try await h.store.requestCancel(id, at: Date())
            await h.engine.wake()
            let job = try await h.waitFor(id)
            #expect(job.state == .cancelled)
            let stored = try #require(try await h.store.credential(credential.id))
            #expect(stored.current.providerKeyID == h.originalKey.id)
            #expect(stored.version == 3)
            #expect(stored.state == .active)
            #expect(try await h.store.credentialSecrets(credential.id).current.reveal() == h.originalKey.secret)
            #expect(h.fake.keys(ofUser: h.userID).map(\.id) == [h.originalKey.id])
        }
    }

    @Test("a dry run checks auth, lookup and verify URLs, and creates nothing")
    func dryRun() async throws {
        try await EngineHarness.with { h in
            let (credential, _) = try await h.makeCredential()
            let job = try await h.waitFor(try await h.rotate(credential, dryRun: true))
            #expect(job.state == .succeeded)
            #expect(job.newKey == nil)
            #expect(h.fake.requestCounts(.create).received == 0)
            #expect(h.fake.requestCounts(.delete).received == 0)
            #expect(h.receiver.all.map(\.path) == ["/verify"])
            #expect(try await h.store.credential(credential.id)?.state == .active)
        }
    }
}
