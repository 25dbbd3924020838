import Foundation
import RotorCore
import Testing

/// Credential writes from the API and from the engine never silently undo each other.
package struct ConcurrentUpdateConformance: Sendable {
    package init() {}

    package func compareAndSet(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = try await store.addCredential()
            let readAt = credential.updatedAt

            // A job starts between the read and the write: it marks the credential rotating.
            _ = try await store.addJob(for: credential, at: Sample.t0.addingTimeInterval(5))
            var patched = credential
            patched.labels = ["team": "payments"]
            patched.updatedAt = Sample.t0.addingTimeInterval(10)
            let refused = await #expect(throws: StoreError.self) {
                try await store.updateCredential(patched, signingSecrets: nil, ifUnmodifiedSince: readAt)
            }
            #expect(refused?.code == .conflict)
            #expect(try await store.credential(credential.id)?.state == .rotating)

            let fresh = try #require(try await store.credential(credential.id))
            var again = fresh
            again.labels = ["team": "payments"]
            again.updatedAt = Sample.t0.addingTimeInterval(11)
            try await store.updateCredential(again, signingSecrets: nil, ifUnmodifiedSince: fresh.updatedAt)
            let stored = try #require(try await store.credential(credential.id))
            #expect(stored.labels == ["team": "payments"])
            #expect(stored.state == .rotating)
        }
    }

    package func commitKeepsPatchedFields(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = try await store.addCredential()
            let job = try await store.addJob(for: credential)
            #expect(try await store.claimJobs(owner: "A", now: Sample.t0, leaseUntil: Sample.t0.addingTimeInterval(60), limit: 1) == [job.id])
            var rotation = try await store.rotation(job.id)

            // The API patches labels while the engine works from its earlier read.
            let current = try #require(try await store.credential(credential.id))
            var patched = current
            patched.labels = ["owner": "sre"]
            patched.schedule = Schedule(every: try ISODuration(parsing: "P30D"))
            try await store.updateCredential(patched, signingSecrets: nil, ifUnmodifiedSince: current.updatedAt)

            try rotation.job.start(at: Sample.t0)
            var engineView = rotation.credential
            engineView.version += 1
            engineView.updatedAt = Sample.t0.addingTimeInterval(20)
            try await store.commit(RotationCommit(job: rotation.job, credential: engineView), owner: "A")

            let stored = try #require(try await store.credential(credential.id))
            #expect(stored.version == credential.version + 1)
            #expect(stored.labels == ["owner": "sre"])
            #expect(stored.schedule?.every?.description == "P30D")
        }
    }
}
