import Foundation
import RotorCore
import Testing

/// Jobs in every store: creation (one active job per credential, idempotency keys), listing, and
/// their event timelines.
package struct JobStoreConformance: Sendable {
    package init() {}

    package func roundTrip(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = try await store.addCredential(targets: 2)
            let new = Sample.job(for: credential, at: Date())

            guard case .created(let created) = try await store.createJob(new, idempotencyKey: nil, requestFingerprint: nil, events: []) else {
                Issue.record("expected a new job")
                return
            }
            #expect(created.revision == 1)
            var job = Job(new, credential: credential)
            job.revision = 1
            #expect(job.oldKey == credential.current && job.targets.count == 2)
            #expect(created == job)
            #expect(try await store.job(job.id) == job)
            #expect(try await store.job(.generate()) == nil)
            #expect(try await store.credential(credential.id)?.state == .rotating)
        }
    }

    package func unknownCredential(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let error = await #expect(throws: StoreError.self) {
                _ = try await subject.store.createJob(Sample.job(for: Sample.credential()), idempotencyKey: nil, requestFingerprint: nil, events: [])
            }
            #expect(error?.code == .notFound)
        }
    }

    package func oldKeyFromTheInsertingTransaction(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = try await store.addCredential()
            let first = try await store.addJob(for: credential)

            // The caller reads the credential while its first job still runs...
            let callerRead = try #require(try await store.credential(credential.id))
            #expect(callerRead.current == credential.current)
            // ...then that job's final commit lands (a new current key), and a target is added...
            let rotated = Sample.key("key-rotated")
            try await Self.finish(store, first, newKey: rotated, secret: Secret("rotated-secret"))
            var patched = try #require(try await store.credential(credential.id))
            #expect(patched.current == rotated)
            patched.targets.append(Target(id: .generate(), url: "https://late.example/hook"))
            try await store.updateCredential(patched, signingSecrets: nil)

            // ...and only then does the caller's insert run.
            let second = try await store.addJob(for: callerRead, at: Sample.t0.addingTimeInterval(10))
            #expect(second.oldKey == rotated)
            #expect(second.oldKey != callerRead.current)
            #expect(second.targets.map(\.targetID) == patched.targets.map(\.id))
            #expect(try await store.job(second.id)?.oldKey == rotated)
        }
    }

    package func disabledCredential(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            var credential = try await store.addCredential()
            credential.state = .disabled
            try await store.updateCredential(credential, signingSecrets: nil)
            let error = await #expect(throws: StoreError.self) { _ = try await store.addJob(for: credential) }
            #expect(error?.code == .credentialDisabled)
            #expect(try await store.jobs(JobFilter(credentialID: credential.id), PageRequest()).items.isEmpty)
            #expect(try await store.credential(credential.id)?.state == .disabled)
        }
    }

    /// Runs `job` to `succeeded` and commits it in one transaction that makes `newKey` current:
    /// what the engine's last commits leave behind.
    static func finish(_ store: any TestedStore, _ job: Job, newKey: KeyInfo, secret: Secret) async throws {
        let now = job.createdAt.addingTimeInterval(1)
        #expect(try await store.claimJobs(owner: "A", now: now, leaseUntil: now.addingTimeInterval(60), limit: 10).contains(job.id))
        var rotation = try await store.rotation(job.id)
        try rotation.job.start(at: now)
        while rotation.job.state == .running {
            try rotation.job.beginAttempt(at: now)
            try rotation.job.completeStep(at: now)
        }
        #expect(rotation.job.state == .succeeded)
        rotation.job.newKey = newKey
        var credential = rotation.credential
        credential.current = newKey
        credential.previous = nil
        credential.version += 1
        credential.state = .active
        credential.lastRotatedAt = now
        credential.updatedAt = now
        try await store.commit(
            RotationCommit(job: rotation.job, credential: credential, currentKey: .set(secret), previousKey: .clear, pendingKey: .clear),
            owner: "A")
    }

    package func oneActiveJobPerCredential(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = try await store.addCredential()
            let first = try await store.addJob(for: credential)

            let error = await #expect(throws: StoreError.self) {
                _ = try await store.addJob(for: credential, at: Sample.t0.addingTimeInterval(1))
            }
            #expect(error?.code == .rotationInProgress)
            #expect(error?.jobID == first.id)

            // Another credential is not affected.
            _ = try await store.addJob(for: try await store.addCredential())

            // Run the first job to rolled_back and commit it terminal.
            #expect(try await store.claimJobs(owner: "A", now: Sample.t0, leaseUntil: Sample.t0.addingTimeInterval(60), limit: 10).contains(first.id))
            var rotation = try await store.rotation(first.id)
            try rotation.job.start(at: Sample.t0)
            try rotation.job.beginAttempt(at: Sample.t0)
            try rotation.job.failStep(JobError(code: "provider_rejected", message: "no", step: .create), at: Sample.t0)
            try rotation.job.beginAttempt(at: Sample.t0)
            try rotation.job.completeStep(at: Sample.t0)
            #expect(rotation.job.state == .rolledBack)
            var restored = rotation.credential
            restored.state = .active
            try await store.commit(RotationCommit(job: rotation.job, credential: restored), owner: "A")

            let second = try await store.addJob(for: credential, at: Sample.t0.addingTimeInterval(2))
            #expect(second.id != first.id)
            #expect(try await store.job(first.id)?.state == .rolledBack)
        }
    }

    package func idempotency(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = try await store.addCredential()
            let job = Sample.job(for: credential)

            guard case .created(let created) = try await store.createJob(job, idempotencyKey: "key-1", requestFingerprint: "fp-1", events: []) else {
                Issue.record("expected a new job")
                return
            }
            let retry = Sample.job(for: credential, at: Sample.t0.addingTimeInterval(5))
            guard case .replayed(let replayed) = try await store.createJob(retry, idempotencyKey: "key-1", requestFingerprint: "fp-1", events: []) else {
                Issue.record("expected a replay")
                return
            }
            #expect(replayed == created)

            let conflict = await #expect(throws: StoreError.self) {
                _ = try await store.createJob(retry, idempotencyKey: "key-1", requestFingerprint: "fp-2", events: [])
            }
            #expect(conflict?.code == .idempotencyConflict)
            #expect(try await store.jobs(JobFilter(), PageRequest()).items.map(\.id) == [created.id])
        }
    }

    package func idempotencyExpires(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = try await store.addCredential()
            guard case .created(let first) = try await store.createJob(Sample.job(for: credential), idempotencyKey: "key-1", requestFingerprint: "fp-1", events: [])
            else {
                Issue.record("expected a new job")
                return
            }
            _ = try await store.requestCancel(first.id, at: Sample.t0.addingTimeInterval(1))
            // Just inside the day: still the first job.
            let inside = Sample.job(for: credential, at: Sample.t0.addingTimeInterval(86_400 - 1))
            guard case .replayed(let replayed) = try await store.createJob(inside, idempotencyKey: "key-1", requestFingerprint: "fp-1", events: []) else {
                Issue.record("expected a replay within 24 h")
                return
            }
            #expect(replayed.id == first.id)
            let later = Sample.job(for: credential, at: Sample.t0.addingTimeInterval(86_400 + 1))
            guard case .created(let second) = try await store.createJob(later, idempotencyKey: "key-1", requestFingerprint: "fp-1", events: []) else {
                Issue.record("expected a new job after 24 h")
                return
            }
            #expect(second.id != first.id)
            // And the new job holds the key now.
            let again = Sample.job(for: credential, at: Sample.t0.addingTimeInterval(86_400 + 2))
            guard case .replayed(let replayedSecond) = try await store.createJob(again, idempotencyKey: "key-1", requestFingerprint: "fp-1", events: []) else {
                Issue.record("expected the new job to replay")
                return
            }
            #expect(replayedSecond.id == second.id)
        }
    }

    package func listing(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let one = try await store.addCredential()
            let two = try await store.addCredential()
            let j1 = try await store.addJob(for: one, at: Sample.t0)
            _ = try await store.requestCancel(j1.id, at: Sample.t0.addingTimeInterval(0.5))
            let j2 = try await store.addJob(for: one, at: Sample.t0.addingTimeInterval(1))
            let j3 = try await store.addJob(for: two, at: Sample.t0.addingTimeInterval(2))

            #expect(try await store.jobs(JobFilter(), PageRequest()).items.map(\.id) == [j3.id, j2.id, j1.id])
            #expect(try await store.jobs(JobFilter(credentialID: one.id), PageRequest()).items.map(\.id) == [j2.id, j1.id])
            #expect(try await store.jobs(JobFilter(state: .cancelled), PageRequest()).items.map(\.id) == [j1.id])
            #expect(try await store.jobs(JobFilter(credentialID: two.id, state: .cancelled), PageRequest()).items.isEmpty)

            let first = try await store.jobs(JobFilter(), PageRequest(limit: 2))
            #expect(first.items.map(\.id) == [j3.id, j2.id])
            let cursor = try #require(first.nextCursor)
            let second = try await store.jobs(JobFilter(), PageRequest(limit: 2, cursor: cursor))
            #expect(second.items.map(\.id) == [j1.id])
            #expect(second.nextCursor == nil)
        }
    }

    package func events(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = try await store.addCredential()
            let job = try await store.addJob(
                for: credential, events: [Sample.event("job.created"), Sample.event("job.queued", at: Sample.t0.addingTimeInterval(0.001))])

            _ = try await store.claimJobs(owner: "A", now: Sample.t0, leaseUntil: Sample.t0.addingTimeInterval(60), limit: 1)
            var rotation = try await store.rotation(job.id)
            try rotation.job.start(at: Sample.t0)
            try await store.commit(
                RotationCommit(job: rotation.job, events: [Sample.event("job.started"), Sample.event("step.started", step: .create)]), owner: "A")
            _ = try await store.requestCancel(job.id, at: Sample.t0.addingTimeInterval(3))

            let events = try await store.events(job.id)
            #expect(events.map(\.seq) == [1, 2, 3, 4, 5])
            #expect(events.map(\.type) == ["job.created", "job.queued", "job.started", "step.started", "job.cancel_requested"])
            #expect(events[1] == JobEvent(seq: 2, at: Sample.t0.addingTimeInterval(0.001), type: "job.queued", message: "job.queued happened"))
            #expect(events[3].step == .create)
            #expect(try await store.events(.generate()).isEmpty)
        }
    }
}
