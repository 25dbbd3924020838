import Foundation
import RotorCore
import Testing

/// The scheduler's queries and its compare-and-set, in every store.
package struct ScheduleStoreConformance: Sendable {
    package init() {}

    let t0 = Sample.t0
    func at(_ seconds: Double) -> Date { self.t0.addingTimeInterval(seconds) }

    /// Stores an active credential with an `every` schedule due at `due`.
    private func addScheduled(_ store: any TestedStore, due: Date?, state: CredentialState = .active) async throws -> Credential {
        var credential = Sample.credential()
        credential.schedule = Schedule(every: ISODuration(seconds: 3600))
        credential.nextRotationAt = due
        credential.state = state
        try await store.createCredential(credential, secrets: Sample.secrets(for: credential))
        return credential
    }

    package func dueAndEarliest(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            #expect(try await store.earliestScheduledRotation() == nil)
            let late = try await self.addScheduled(store, due: self.at(20))
            let early = try await self.addScheduled(store, due: self.at(10))
            _ = try await self.addScheduled(store, due: self.at(5), state: .disabled)
            _ = try await self.addScheduled(store, due: nil)
            let future = try await self.addScheduled(store, due: self.at(100))

            #expect(try await store.credentialsDueForRotation(at: self.at(20), limit: 10).map(\.id) == [early.id, late.id])
            #expect(try await store.credentialsDueForRotation(at: self.at(20), limit: 1).map(\.id) == [early.id])
            #expect(try await store.credentialsDueForRotation(at: self.at(9.999), limit: 10).isEmpty)
            #expect(try await store.credentialsDueForRotation(at: self.at(20), limit: 0).isEmpty)
            #expect(try await store.earliestScheduledRotation() == self.at(10))
            #expect(try await store.credentialsDueForRotation(at: self.at(100), limit: 10).last?.id == future.id)
        }
    }

    package func startOnce(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = try await self.addScheduled(store, due: self.at(10))

            // A stale due time changes nothing.
            #expect(try await store.startScheduledRotation(Sample.job(for: credential), dueAt: self.at(9), retryAt: self.at(3610), events: []) == nil)

            let job = Sample.job(for: credential, at: self.at(11))
            let started = try #require(
                try await store.startScheduledRotation(job, dueAt: self.at(10), retryAt: self.at(3610), events: [Sample.event("job.created")]))
            #expect(started.id == job.id && started.revision == 1)
            let stored = try #require(try await store.credential(credential.id))
            #expect(stored.state == .rotating)
            #expect(stored.nextRotationAt == self.at(3610))
            #expect(stored.updatedAt == self.at(11))
            #expect(try await store.events(job.id).map(\.type) == ["job.created"])

            // The same due time again (a second scheduler, a restart) starts nothing.
            #expect(try await store.startScheduledRotation(Sample.job(for: credential), dueAt: self.at(10), retryAt: self.at(3610), events: []) == nil)
            // Nor does the new one while the job is active.
            #expect(try await store.startScheduledRotation(Sample.job(for: credential), dueAt: self.at(3610), retryAt: self.at(7210), events: []) == nil)
            #expect(try await store.jobs(JobFilter(credentialID: credential.id), PageRequest()).items.map(\.id) == [job.id])
        }
    }

    package func rescheduleOnSuccess(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = try await self.addScheduled(store, due: self.at(10))
            let job = try #require(
                try await store.startScheduledRotation(Sample.job(for: credential), dueAt: self.at(10), retryAt: self.at(3610), events: []))
            _ = try await store.claimJobs(owner: "A", now: self.at(11), leaseUntil: self.at(71), limit: 1)

            var rotation = try await store.rotation(job.id)
            try rotation.job.start(at: self.at(12))
            var unchanged = rotation.credential
            unchanged.version += 1
            try await store.commit(RotationCommit(job: rotation.job, credential: unchanged), owner: "A")
            #expect(try await store.credential(credential.id)?.nextRotationAt == self.at(3610))

            rotation = try await store.rotation(job.id)
            var rotated = rotation.credential
            rotated.lastRotatedAt = self.at(20)
            rotated.state = .active
            try await store.commit(RotationCommit(job: rotation.job, credential: rotated), owner: "A")
            let expected = try #require(rotated.scheduledRotationAt())
            #expect(expected == self.at(3620))
            #expect(try await store.credential(credential.id)?.nextRotationAt == expected)
        }
    }
}
