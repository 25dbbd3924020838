import Foundation
import RotorCore
import Testing

/// Credentials in every store: round trips, unique names and keys, paging, updates, deletes.
package struct CredentialStoreConformance: Sendable {
    package init() {}

    package func roundTrip(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let now = Date()
            let credential = Credential(
                id: .generate(),
                name: "payments.vultr-1",
                provider: .vultr,
                state: .active,
                version: 3,
                current: Sample.key("cur", at: now),
                previous: KeyInfo(providerKeyID: "prev", fingerprint: "sha256:abcdefabcdef", createdAt: now.addingTimeInterval(-1.000_001)),
                targets: [Target(id: .generate(), url: "https://a.example/hook", verifyURL: "https://a.example/ok"), Target(id: .generate(), url: "https://b.example/hook")],
                schedule: Schedule(every: ISODuration(seconds: 86_400 * 30), beforeExpiry: ISODuration(months: 1)),
                keyExpiry: try ISODuration(parsing: "P90DT1.5S"),
                labels: ["env": "prod", "team": "payments"],
                nextRotationAt: now.addingTimeInterval(1_234.567_891),
                lastRotatedAt: now.addingTimeInterval(-0.333_333_333),
                createdAt: now,
                updatedAt: now.addingTimeInterval(0.000_000_1)
            )
            let secrets = CredentialSecrets(
                current: Secret("current-κλειδί"),
                previous: Secret("previous-key"),
                signingSecrets: [credential.targets[0].id: Secret("whsec_a"), credential.targets[1].id: Secret("whsec_b")]
            )
            try await subject.store.createCredential(credential, secrets: secrets)

            #expect(try await subject.store.credential(credential.id) == credential)
            #expect(try await subject.store.credentialSecrets(credential.id) == secrets)
            #expect(try await subject.store.credential(.generate()) == nil)
            let missing = await #expect(throws: StoreError.self) {
                _ = try await subject.store.credentialSecrets(.generate())
            }
            #expect(missing?.code == .notFound)
        }
    }

    package func duplicateName(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            _ = try await subject.store.addCredential(name: "same")
            let error = await #expect(throws: StoreError.self) {
                _ = try await subject.store.addCredential(name: "same")
            }
            #expect(error?.code == .duplicateName)
            #expect(try await subject.store.credentials(PageRequest()).items.count == 1)
        }
    }

    package func duplicateKey(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let held = try await store.addCredential()
            func refused(_ credential: Credential, _ secrets: CredentialSecrets, _ comment: Comment) async {
                let error = await #expect(throws: StoreError.self, comment) { try await store.createCredential(credential, secrets: secrets) }
                #expect(error?.code == .duplicateKey, comment)
                #expect(error?.credentialID == held.id, comment)
            }

            // The same provider key id, another secret.
            var sameID = Sample.credential()
            sameID.current.providerKeyID = held.current.providerKeyID
            await refused(sameID, Sample.secrets(for: sameID), "same key id")
            // The same secret under another key id (and another fingerprint): the digest matches.
            let sameSecret = Sample.credential()
            await refused(sameSecret, Sample.secrets(for: sameSecret, current: Sample.currentSecret(of: held).reveal()), "same secret")
            // The same fingerprint.
            var sameFingerprint = Sample.credential()
            sameFingerprint.current.fingerprint = held.current.fingerprint
            await refused(sameFingerprint, Sample.secrets(for: sameFingerprint), "same fingerprint")

            // The key a running rotation created (it becomes current at grace), then, once
            // current, the key it replaced (previous until revoke).
            let job = try await store.addJob(for: held)
            _ = try await store.claimJobs(owner: "A", now: Sample.t0, leaseUntil: Sample.t0.addingTimeInterval(60), limit: 1)
            var rotation = try await store.rotation(job.id)
            try rotation.job.start(at: Sample.t0)
            try rotation.job.beginAttempt(at: Sample.t0)
            rotation.job.newKey = Sample.key("key-new-of-job")
            try rotation.job.completeStep(at: Sample.t0)
            try await store.commit(RotationCommit(job: rotation.job, pendingKey: .set(Secret("pending-secret"))), owner: "A")
            var pending = Sample.credential()
            pending.current.providerKeyID = "key-new-of-job"
            await refused(pending, Sample.secrets(for: pending), "the active job's new key")

            rotation = try await store.rotation(job.id)
            var credential = rotation.credential
            credential.previous = credential.current
            credential.current = Sample.key("key-new-of-job")
            credential.version += 1
            try await store.commit(
                RotationCommit(job: rotation.job, credential: credential, currentKey: .set(Secret("pending-secret")), previousKey: .set(Sample.currentSecret(of: held))),
                owner: "A")
            var previous = Sample.credential()
            previous.current.providerKeyID = held.current.providerKeyID
            await refused(previous, Sample.secrets(for: previous), "the previous key")

            // Another provider key is fine; nothing refused was stored.
            _ = try await store.addCredential()
            #expect(try await store.credentials(PageRequest()).items.count == 2)
        }
    }

    package func duplicateKeyConcurrently(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let template = Sample.credential()
            let outcomes = try await withThrowingTaskGroup(of: StoreError.Code?.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        var credential = Sample.credential(name: "same-key-\(index)")
                        credential.current = template.current
                        do {
                            try await store.createCredential(credential, secrets: Sample.secrets(for: credential, current: "one-key"))
                            return nil
                        } catch let error as StoreError {
                            return error.code
                        }
                    }
                }
                var outcomes: [StoreError.Code?] = []
                for try await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            #expect(outcomes.filter { $0 == nil }.count == 1)
            #expect(outcomes.filter { $0 == .duplicateKey }.count == 7)
            #expect(try await store.credentials(PageRequest()).items.count == 1)
        }
    }

    package func paging(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let names = ["echo", "alpha", "delta", "charlie", "bravo"]
            for name in names { _ = try await subject.store.addCredential(name: name) }

            var seen: [String] = []
            var pages = 0
            var cursor: String?
            repeat {
                let page = try await subject.store.credentials(PageRequest(limit: 2, cursor: cursor))
                pages += 1
                #expect(page.items.count <= 2)
                seen += page.items.map(\.name)
                cursor = page.nextCursor
            } while cursor != nil && pages < 10
            #expect(pages == 3)
            #expect(seen == names.sorted())

            let exact = try await subject.store.credentials(PageRequest(limit: 5))
            #expect(exact.items.count == 5)
            #expect(exact.nextCursor == nil)
        }
    }

    package func update(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            var credential = try await store.addCredential(name: "original", targets: 2)
            let other = try await store.addCredential(name: "taken")
            let before = try await store.credentialSecrets(credential.id)

            credential.name = "renamed"
            credential.labels = ["env": "staging"]
            credential.state = .disabled
            credential.updatedAt = Sample.t0.addingTimeInterval(10)
            try await store.updateCredential(credential, signingSecrets: nil)
            #expect(try await store.credential(credential.id) == credential)
            #expect(try await store.credentialSecrets(credential.id) == before)

            let kept = credential.targets[1]
            let added = Target(id: .generate(), url: "https://new.example/hook")
            credential.targets = [kept, added]
            try await store.updateCredential(credential, signingSecrets: [kept.id: Secret("whsec_rotated"), added.id: Secret("whsec_new")])
            let after = try await store.credentialSecrets(credential.id)
            #expect(after.signingSecrets == [kept.id: Secret("whsec_rotated"), added.id: Secret("whsec_new")])
            #expect(after.current == before.current)

            // A signing secret removed earlier can be given again.
            let returning = try #require(before.signingSecrets.keys.first { $0 != kept.id })
            try await store.updateCredential(credential, signingSecrets: [returning: Secret("whsec_back")])
            #expect(try await store.credentialSecrets(credential.id).signingSecrets == [returning: Secret("whsec_back")])

            var clash = credential
            clash.name = other.name
            let duplicate = await #expect(throws: StoreError.self) { try await store.updateCredential(clash, signingSecrets: nil) }
            #expect(duplicate?.code == .duplicateName)
            #expect(try await store.credential(credential.id)?.name == "renamed")

            let missing = await #expect(throws: StoreError.self) {
                try await store.updateCredential(Sample.credential(), signingSecrets: nil)
            }
            #expect(missing?.code == .notFound)
        }
    }

    package func delete(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = try await store.addCredential()
            let job = try await store.addJob(for: credential)

            let refused = await #expect(throws: StoreError.self) { try await store.deleteCredential(credential.id) }
            #expect(refused?.code == .rotationInProgress)
            #expect(refused?.jobID == job.id)
            #expect(try await store.credential(credential.id) != nil)

            _ = try await store.requestCancel(job.id, at: Sample.t0.addingTimeInterval(1))
            try await store.deleteCredential(credential.id)
            #expect(try await store.credential(credential.id) == nil)
            #expect(try await store.job(job.id) == nil)
            let secrets = await #expect(throws: StoreError.self) { _ = try await store.credentialSecrets(credential.id) }
            #expect(secrets?.code == .notFound)
            let again = await #expect(throws: StoreError.self) { try await store.deleteCredential(credential.id) }
            #expect(again?.code == .notFound)

            // The name is free again.
            _ = try await store.addCredential(name: credential.name)
        }
    }
}
