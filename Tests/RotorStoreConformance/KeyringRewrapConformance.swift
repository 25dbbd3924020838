import Foundation
import RotorCore
import RotorStorage
import RotorCrypto
import RotorPostgres
import RotorSQLite
import Synchronization
import Testing

/// Moving stored envelopes to a new KEK (`rotor keyring rewrap`), in every store.
package struct KeyringRewrapConformance: Sendable {
    package init() {}

    static let old = Keyring.generate(id: "kek-old")
    /// Both keys, the new one active: what the keyring file holds after `rotor keyring add`.
    static let both = try! old.adding(Keyring.generateKey(id: "kek-new"), makeActive: true)
    /// The new key only: after `rotor keyring remove kek-old`.
    static let newOnly = try! both.removing(id: "kek-old")
    static let triggerID = TriggerID.generate()

    /// Credentials (current key, previous key, a signing secret each), a subscription and a
    /// trigger, sealed under `kek-old`. Returns the credentials' ids and secrets as stored.
    private func seed(_ store: any TestedStore, credentials: Int) async throws -> [CredentialID: CredentialSecrets] {
        var stored: [CredentialID: CredentialSecrets] = [:]
        for index in 0..<credentials {
            let credential = Sample.credential(name: "cred-\(index)")
            var secrets = Sample.secrets(for: credential, current: "current-secret-\(index)")
            secrets.previous = Secret("previous-secret-\(index)")
            try await store.createCredential(credential, secrets: secrets)
            stored[credential.id] = secrets
        }
        let subscription = Subscription(id: .generate(), url: "https://events.example/hook", events: [.jobSucceeded], createdAt: Sample.t0)
        try await store.createSubscription(subscription, signingSecret: Secret("whsec_subscription-secret"))
        let trigger = WebhookTrigger(id: Self.triggerID, scheme: .github, credentialIDs: Array(stored.keys.prefix(1)), createdAt: Sample.t0)
        try await store.createTrigger(trigger, secret: Secret("trigger-secret"))
        return stored
    }

    /// One batch of `kek-old`'s envelopes, with `beforeWrite` run between its read and its write.
    private static func rewrapOldKey(_ store: any TestedStore, beforeWrite: @Sendable () async throws -> Void) async throws -> EnvelopeRewrapBatch {
        if let sqlite = store as? SQLiteStore {
            return try await sqlite.rewrapEnvelopes(under: "kek-old", after: nil, limit: 100, beforeWrite: beforeWrite)
        }
        let postgres = try #require(store as? PostgresStore)
        return try await postgres.rewrapEnvelopes(under: "kek-old", after: nil, limit: 100, beforeWrite: beforeWrite)
    }

    package func rewrapThenRemove(_ kind: StoreKind) async throws {
        try await kind.withStore(keyring: Self.old) { subject in
            let stored = try await self.seed(subject.store, credentials: 3)
            // 3 × (current, previous, signing) + the subscription's and the trigger's secrets.
            #expect(try await subject.store.envelopeCountsByKeyID() == ["kek-old": 11])

            let rotating = try await subject.reopen(Self.both)
            #expect(try await rotating.missingEnvelopeKeyIDs() == [])
            let result = try await EnvelopeRewrap.run(store: rotating, batchSize: 4)
            #expect(result.rewrapped == 11)
            #expect(result.total == 11)
            #expect(result.isComplete)
            #expect(result.failures.isEmpty)
            #expect(try await rotating.envelopeCountsByKeyID() == ["kek-new": 11])

            let after = try await subject.reopen(Self.newOnly)
            #expect(try await after.missingEnvelopeKeyIDs() == [])
            for (id, secrets) in stored {
                #expect(try await after.credentialSecrets(id) == secrets)
            }
            #expect(try await after.triggerSecrets(Self.triggerID, at: Sample.t0) == [Secret("trigger-secret")])
            let verification = try await after.verifyEnvelopes()
            #expect(verification.opened == 11)
            #expect(verification.failures.isEmpty)

            // The store that only has the old key is told which key it lacks, and cannot open them.
            #expect(try await subject.store.missingEnvelopeKeyIDs() == ["kek-new"])
            let stale = try await subject.store.verifyEnvelopes()
            #expect(stale.opened == 0)
            #expect(stale.failures.count == 11)
            #expect(stale.failures.allSatisfy { $0.reason.contains("kek-new") })

            // A second run finds nothing to do.
            let again = try await EnvelopeRewrap.run(store: rotating, batchSize: 4)
            #expect(again.rewrapped == 0)
            #expect(again.total == 0)
        }
    }

    package func interruptAndResume(_ kind: StoreKind) async throws {
        try await kind.withStore(keyring: Self.old) { subject in
            let stored = try await self.seed(subject.store, credentials: 10)  // 32 envelopes
            let rotating = try await subject.reopen(Self.both)

            struct Interrupted: Error {}
            let batches = Mutex(0)
            await #expect(throws: Interrupted.self) {
                _ = try await EnvelopeRewrap.run(store: rotating, batchSize: 5) { progress in
                    let seen = batches.withLock { count -> Int in
                        count += 1
                        return count
                    }
                    if seen == 2 { throw Interrupted() }
                }
            }
            #expect(try await rotating.envelopeCountsByKeyID() == ["kek-new": 10, "kek-old": 22])
            for (id, secrets) in stored {
                #expect(try await rotating.credentialSecrets(id) == secrets)
            }

            var reports: [EnvelopeRewrapProgress] = []
            let resumed = try await EnvelopeRewrap.run(store: rotating, batchSize: 5) { reports.append($0) }
            #expect(resumed.rewrapped == 22)
            #expect(resumed.total == 22)
            #expect(resumed.isComplete)
            #expect(reports.map(\.rewrapped) == [5, 10, 15, 20, 22])
            #expect(reports.last?.remaining == ["kek-old": 0])
            #expect(try await rotating.envelopeCountsByKeyID() == ["kek-new": 32])

            let after = try await subject.reopen(Self.newOnly)
            for (id, secrets) in stored {
                #expect(try await after.credentialSecrets(id) == secrets)
            }
        }
    }

    package func boundedRuns(_ kind: StoreKind) async throws {
        try await kind.withStore(keyring: Self.old) { subject in
            _ = try await self.seed(subject.store, credentials: 4)  // 14 envelopes
            let rotating = try await subject.reopen(Self.both)
            var sizes: [Int] = []
            let first = try await EnvelopeRewrap.run(store: rotating, batchSize: 5, maxEnvelopes: 7) { sizes.append($0.rewrapped) }
            #expect(sizes == [5, 7])
            #expect(first.rewrapped == 7)
            #expect(first.remaining == ["kek-old": 7])
            #expect(!first.isComplete)
            let second = try await EnvelopeRewrap.run(store: rotating, batchSize: 5, maxEnvelopes: 7)
            #expect(second.rewrapped == 7)
            #expect(second.total == 7)
            #expect(second.isComplete)
        }
    }

    package func compareAndSet(_ kind: StoreKind) async throws {
        try await kind.withStore(keyring: Self.old) { subject in
            let stored = try await self.seed(subject.store, credentials: 1)
            let (id, secrets) = try #require(stored.first)
            let credential = try #require(try await subject.store.credential(id))
            let targetID = credential.targets[0].id
            let server = subject.store
            // A roll with an overlap: the old signing secret is kept as the previous one.
            _ = try await server.rollSigningSecret(
                credential: id, target: targetID, to: Secret("whsec_second"), overlapUntil: Sample.t0.addingTimeInterval(60), at: Sample.t0)
            #expect(try await server.envelopeCountsByKeyID() == ["kek-old": 6])
            let rotating = try await subject.reopen(Self.both)

            // In the window the "server" (still sealing under kek-old) rolls again without overlap:
            // the signing secret gets a new version, and the previous one is cleared, keeping its
            // version; only the envelope comparison tells that one has changed.
            let batch = try await Self.rewrapOldKey(rotating) {
                _ = try await server.rollSigningSecret(credential: id, target: targetID, to: Secret("whsec_third"), overlapUntil: nil, at: Sample.t0)
            }
            #expect(batch.changedConcurrently == 2)
            #expect(batch.rewrapped == 4)
            #expect(batch.next == nil)
            let now = try await rotating.credentialSecrets(id)
            #expect(now.signingSecrets == [targetID: Secret("whsec_third")])
            #expect(now.previousSigningSecrets.isEmpty)
            #expect(now.current == secrets.current)
            #expect(try await rotating.envelopeCountsByKeyID() == ["kek-new": 4, "kek-old": 1])

            // The next pass takes the envelope the server wrote.
            let rest = try await EnvelopeRewrap.run(store: rotating)
            #expect(rest.rewrapped == 1)
            #expect(rest.isComplete)
            let after = try await subject.reopen(Self.newOnly)
            #expect(try await after.credentialSecrets(id).signingSecrets == [targetID: Secret("whsec_third")])
            #expect(try await after.credentialSecrets(id).previousSigningSecrets.isEmpty)
        }
    }

    package func concurrentWrites(_ kind: StoreKind) async throws {
        try await kind.withStore(keyring: Self.old) { subject in
            let stored = try await self.seed(subject.store, credentials: 20)
            // The server restarted with the new keyring seals under kek-new; both stores are
            // separate connection pools on one file, as `rotor serve` and `rotor keyring rewrap` are.
            let server = try await subject.reopen(Self.both)
            let rotating = try await subject.reopen(Self.both)
            let ids = Array(stored.keys)

            let written = try await withThrowingTaskGroup(of: [CredentialID: String].self) { group in
                group.addTask {
                    var last: [CredentialID: String] = [:]
                    for round in 0..<3 {
                        for id in ids {
                            let credential = try #require(try await server.credential(id))
                            let value = "whsec_round-\(round)-\(id.rawValue)"
                            _ = try await server.rollSigningSecret(
                                credential: id, target: credential.targets[0].id, to: Secret(value), overlapUntil: nil, at: Sample.t0)
                            last[id] = value
                        }
                    }
                    return last
                }
                group.addTask {
                    let result = try await EnvelopeRewrap.run(store: rotating, batchSize: 1)
                    #expect(result.failures.isEmpty)
                    #expect(result.isComplete)
                    return [:]
                }
                var written: [CredentialID: String] = [:]
                for try await part in group { written.merge(part) { $1 } }
                return written
            }

            #expect(try await rotating.envelopeCountsByKeyID().keys.sorted() == ["kek-new"])
            let after = try await subject.reopen(Self.newOnly)
            for (id, secrets) in stored {
                let now = try await after.credentialSecrets(id)
                #expect(now.current == secrets.current)
                #expect(now.previous == secrets.previous)
                #expect(now.signingSecrets.values.map { $0.reveal() } == [try #require(written[id])])
            }
            #expect(try await after.verifyEnvelopes().failures.isEmpty)
        }
    }

    package func missingKeyIsAFailure(_ kind: StoreKind) async throws {
        try await kind.withStore(keyring: Self.old) { subject in
            _ = try await self.seed(subject.store, credentials: 1)
            let unrelated = try Keyring.generate(id: "kek-other").adding(Keyring.generateKey(id: "kek-new"), makeActive: true)
            let rotating = try await subject.reopen(unrelated)
            #expect(try await rotating.missingEnvelopeKeyIDs() == ["kek-old"])
            let result = try await EnvelopeRewrap.run(store: rotating)
            #expect(result.rewrapped == 0)
            #expect(result.failures.count == 5)
            #expect(result.failures.allSatisfy { $0.reason.contains("kek-old") })
            #expect(!result.isComplete)
            #expect(try await rotating.envelopeCountsByKeyID() == ["kek-old": 5])
        }
    }
}
