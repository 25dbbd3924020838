import Foundation
import RotorCore
import RotorCrypto
import RotorSQLite
import Testing

/// Rolling a target's signing secret, and the delivery log, in every store.
package struct TargetSecretStoreConformance: Sendable {
    package init() {}

    package func rollKeepsPreviousEncrypted(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let old = "whsec_PLAINTEXT-OLD-SIGNING-SECRET-0001"
            let new = "whsec_PLAINTEXT-NEW-SIGNING-SECRET-0002"
            let credential = Sample.credential(name: "rolled")
            let targetID = credential.targets[0].id
            try await store.createCredential(credential, secrets: CredentialSecrets(current: Secret("current"), signingSecrets: [targetID: Secret(old)]))

            let until = Sample.t0.addingTimeInterval(3600)
            let rolled = try await store.rollSigningSecret(credential: credential.id, target: targetID, to: Secret(new), overlapUntil: until, at: Sample.t0)
            #expect(rolled.targets[0].previousSecretExpiresAt == until)
            #expect(try await store.credential(credential.id)?.targets[0].previousSecretExpiresAt == until)
            let secrets = try await store.credentialSecrets(credential.id)
            #expect(secrets.signingSecrets == [targetID: Secret(new)])
            #expect(secrets.previousSigningSecrets == [targetID: Secret(old)])

            let bytes = try await subject.storedBytes()
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.contains("rolled"))
            for plaintext in [old, new] {
                #expect(!text.contains(plaintext))
                #expect(!text.contains(Data(plaintext.utf8).base64EncodedString()))
            }

            // New targets (as a PATCH makes them): the old target's secrets, previous included, go.
            var replaced = try #require(try await store.credential(credential.id))
            let newTarget = Target(id: .generate(), url: "https://other.example.com/hook")
            replaced.targets = [newTarget]
            try await store.updateCredential(replaced, signingSecrets: [newTarget.id: Secret("whsec_other")])
            let after = try await store.credentialSecrets(credential.id)
            #expect(after.previousSigningSecrets.isEmpty)
            #expect(after.signingSecrets == [newTarget.id: Secret("whsec_other")])
        }
    }

    package func rollUnknown(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let credential = try await subject.store.addCredential()
            await #expect(throws: StoreError.self) {
                try await subject.store.rollSigningSecret(credential: credential.id, target: .generate(), to: Secret("whsec_x"), overlapUntil: nil, at: Sample.t0)
            }
            await #expect(throws: StoreError.self) {
                try await subject.store.rollSigningSecret(credential: .generate(), target: credential.targets[0].id, to: Secret("whsec_x"), overlapUntil: nil, at: Sample.t0)
            }
            #expect(try await subject.store.credential(credential.id) == credential)
        }
    }

    package func deliveryLog(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = try await store.addCredential()
            let job = try await store.addJob(for: credential)
            for attempt in 1...3 {
                try await store.recordDelivery(TargetDeliveryRecord(
                    jobID: job.id, targetID: credential.targets[0].id, eventType: "key.pending", attempt: attempt,
                    statusCode: attempt == 3 ? 200 : 503, durationMs: attempt, error: attempt == 3 ? nil : "answered 503", at: Sample.t0
                ))
            }
            let first = try await store.deliveries(job.id, PageRequest(limit: 2))
            #expect(first.items.map(\.seq) == [1, 2])
            #expect(first.nextCursor != nil)
            let rest = try await store.deliveries(job.id, PageRequest(limit: 2, cursor: first.nextCursor))
            #expect(rest.items.map(\.statusCode) == [200])
            #expect(rest.items.first?.at == Sample.t0)
            #expect(rest.nextCursor == nil)

            _ = try await store.requestCancel(job.id, at: Sample.t0)
            try await store.deleteCredential(credential.id)
            #expect(try await store.deliveries(job.id, PageRequest()).items.isEmpty)
        }
    }
}
