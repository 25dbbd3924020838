import Foundation
import RotorCore
import RotorCrypto
import RotorSQLite
import Testing

/// ``TriggerStore`` in every store: triggers and their sealed secrets, the replay log, and the
/// current-key index that leak reports are matched against.
package struct TriggerStoreConformance: Sendable {
    package init() {}

    private static func find(_ needle: String, in haystack: [UInt8]) -> Bool {
        let pattern = Array(needle.utf8)
        guard haystack.count >= pattern.count else { return false }
        return (0...(haystack.count - pattern.count)).contains { haystack[$0..<($0 + pattern.count)].elementsEqual(pattern) }
    }

    static let secrets = ["whsec_dHJpZ2dlci1zZWNyZXQtb25lLTAxMjM0NTY3ODk=", "whsec_dHJpZ2dlci1zZWNyZXQtdHdvLTAxMjM0NTY3ODk="]

    package func triggersAndSecrets(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = Sample.credential()
            try await store.createCredential(credential, secrets: Sample.secrets(for: credential))
            let trigger = WebhookTrigger(scheme: .github, credentialIDs: [credential.id], description: "ci", createdAt: Sample.t0)
            try await store.createTrigger(trigger, secret: Secret(Self.secrets[0]))
            #expect(try await store.trigger(trigger.id) == trigger)
            #expect(try await store.triggerSecrets(trigger.id, at: Sample.t0) == [Secret(Self.secrets[0])])

            let until = Sample.t0.addingTimeInterval(3600)
            let rolled = try await store.rollTriggerSecret(trigger.id, to: Secret(Self.secrets[1]), previousValidUntil: until, at: Sample.t0)
            #expect(rolled.previousSecretExpiresAt == until)
            #expect(try await store.trigger(trigger.id) == rolled)
            #expect(try await store.triggerSecrets(trigger.id, at: until.addingTimeInterval(-1)) == [Secret(Self.secrets[1]), Secret(Self.secrets[0])])
            #expect(try await store.triggerSecrets(trigger.id, at: until) == [Secret(Self.secrets[1])])

            let files = try await subject.storedBytes()
            for secret in Self.secrets {
                for needle in [secret, String(secret.dropFirst(6)), Data(secret.utf8).base64EncodedString()] {
                    let found = Self.find(needle, in: files)
                    #expect(!found, "a trigger secret is on disk")
                }
            }

            let page = try await store.triggers(PageRequest(limit: 1))
            #expect(page.items.map(\.id) == [trigger.id])
            #expect(page.nextCursor == nil)
            try await store.deleteTrigger(trigger.id)
            #expect(try await store.trigger(trigger.id) == nil)
            await #expect(throws: StoreError.self) { try await store.deleteTrigger(trigger.id) }
            await #expect(throws: StoreError.self) { try await store.triggerSecrets(trigger.id, at: Sample.t0) }
        }
    }

    package func replayLog(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let trigger = WebhookTrigger(scheme: .standardWebhooks, credentialIDs: [], createdAt: Sample.t0)
            try await store.createTrigger(trigger, secret: Secret(Self.secrets[0]))
            let first = [JobID.generate()]
            let day: TimeInterval = 86_400
            #expect(try await store.hookDelivery(trigger.id, deliveryID: "d", since: Sample.t0.addingTimeInterval(-day)) == nil)
            #expect(try await store.recordHookDelivery(trigger.id, deliveryID: "d", jobs: first, at: Sample.t0, since: Sample.t0.addingTimeInterval(-day)) == first)
            // A concurrent duplicate gets the first one's answer.
            #expect(try await store.recordHookDelivery(trigger.id, deliveryID: "d", jobs: [.generate()], at: Sample.t0, since: Sample.t0.addingTimeInterval(-day)) == first)
            #expect(try await store.hookDelivery(trigger.id, deliveryID: "d", since: Sample.t0.addingTimeInterval(-day)) == first)
            let later = Sample.t0.addingTimeInterval(day + 1)
            #expect(try await store.hookDelivery(trigger.id, deliveryID: "d", since: later.addingTimeInterval(-day)) == nil)
            let second = [JobID.generate()]
            #expect(try await store.recordHookDelivery(trigger.id, deliveryID: "d", jobs: second, at: later, since: later.addingTimeInterval(-day)) == second)
            // Other deliveries' old records are left to retention, which prunes them.
            #expect(try await store.recordHookDelivery(trigger.id, deliveryID: "e", jobs: first, at: Sample.t0, since: Sample.t0.addingTimeInterval(-day)) == first)
            let third = Sample.t0.addingTimeInterval(3 * day)
            #expect(try await store.recordHookDelivery(trigger.id, deliveryID: "f", jobs: [], at: third, since: third.addingTimeInterval(-day)) == [])
            #expect(try await store.hookDelivery(trigger.id, deliveryID: "e", since: .distantPast) == first)
            #expect(try await store.prune(.hookDeliveries, before: third.addingTimeInterval(-day), limit: 500) == 2)
            #expect(try await store.hookDelivery(trigger.id, deliveryID: "e", since: .distantPast) == nil)
            #expect(try await store.hookDelivery(trigger.id, deliveryID: "f", since: .distantPast) == [])
        }
    }

    package func currentKeyIndex(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = Sample.credential()
            try await store.createCredential(credential, secrets: Sample.secrets(for: credential, current: "old-key-plaintext"))
            let old = SHA256.hexDigest("old-key-plaintext")
            let new = SHA256.hexDigest("new-key-plaintext")
            #expect(try await store.credentialIDs(currentKeySHA256: [old, new]) == [old: credential.id])

            var job = try await store.addJob(for: credential)
            _ = try await store.claimJobs(owner: "A", now: Sample.t0, leaseUntil: Sample.t0.addingTimeInterval(60), limit: 1)
            try job.start(at: Sample.t0)
            try await store.commit(RotationCommit(job: job, currentKey: .set(Secret("new-key-plaintext")), previousKey: .set(Secret("old-key-plaintext"))), owner: "A")
            #expect(try await store.credentialIDs(currentKeySHA256: [old, new]) == [new: credential.id])
            #expect(try await store.credentialIDs(currentKeySHA256: []) == [:])
        }
    }


    package func expedite(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = Sample.credential()
            try await store.createCredential(credential, secrets: Sample.secrets(for: credential))
            var job = try await store.addJob(for: credential)
            #expect(job.gracePeriod == ISODuration(seconds: 300))
            _ = try await store.claimJobs(owner: "A", now: Sample.t0, leaseUntil: Sample.t0.addingTimeInterval(60), limit: 1)
            let event = JobEvent(at: Sample.t0, type: "job.expedited", message: "leak")
            let expedited = try #require(try await store.expediteJob(job.id, at: Sample.t0, event: event))
            #expect(expedited.gracePeriod == .zero)
            #expect(expedited.revision == job.revision + 1)
            #expect(try await store.events(job.id).map(\.type).contains("job.expedited"))
            // Nothing left to take out: unchanged, no second event.
            #expect(try await store.expediteJob(job.id, at: Sample.t0, event: event)?.revision == expedited.revision)
            #expect(try await store.events(job.id).filter { $0.type == "job.expedited" }.count == 1)

            // The runner's copy is stale: its commit is refused rather than restoring the grace period.
            try job.start(at: Sample.t0)
            await #expect(throws: StoreError.self) { try await store.commit(RotationCommit(job: job), owner: "A") }
            #expect(try await store.job(job.id)?.gracePeriod == .zero)
            #expect(try await store.expediteJob(.generate(), at: Sample.t0, event: event) == nil)
        }
    }
}
