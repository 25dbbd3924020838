import Foundation
import RotorCore
import Synchronization
import Testing

/// The engine's side of every store: claiming jobs under leases, committing steps against the
/// revision it read, and cancelling.
package struct LeaseAndCommitConformance: Sendable {
    package init() {}

    let t0 = Sample.t0
    func at(_ seconds: Double) -> Date { self.t0.addingTimeInterval(seconds) }

    package func claim(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let job = try await store.addJob(for: try await store.addCredential())

            #expect(try await store.claimJobs(owner: "A", now: self.t0, leaseUntil: self.at(60), limit: 10) == [job.id])
            #expect(try await store.claimJobs(owner: "B", now: self.at(30), leaseUntil: self.at(90), limit: 10).isEmpty)
            #expect(try await store.claimJobs(owner: "B", now: self.at(59.9), leaseUntil: self.at(90), limit: 10).isEmpty)
            #expect(try await store.claimJobs(owner: "B", now: self.at(60), leaseUntil: self.at(120), limit: 10) == [job.id])
            // A lost it: it can neither renew nor commit.
            #expect(try await store.renewLease(job.id, owner: "A", until: self.at(200)) == false)
            var rotation = try await store.rotation(job.id)
            try rotation.job.start(at: self.at(61))
            let lost = await #expect(throws: StoreError.self) { try await store.commit(RotationCommit(job: rotation.job), owner: "A") }
            #expect(lost?.code == .leaseLost)
            try await store.commit(RotationCommit(job: rotation.job), owner: "B")
        }
    }

    package func claimOrderAndLimit(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            var ids: [JobID] = []
            for index in 0..<3 {
                ids.append(try await store.addJob(for: try await store.addCredential(), at: self.at(Double(2 - index))).id)
            }
            #expect(try await store.claimJobs(owner: "A", now: self.at(10), leaseUntil: self.at(60), limit: 2) == [ids[2], ids[1]])
            #expect(try await store.claimJobs(owner: "B", now: self.at(10), leaseUntil: self.at(60), limit: 2) == [ids[0]])
            #expect(try await store.claimJobs(owner: "C", now: self.at(10), leaseUntil: self.at(60), limit: 0).isEmpty)
        }
    }

    package func ownLeasesAndRestart(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            var ids: [JobID] = []
            for index in 0..<3 {
                ids.append(try await store.addJob(for: try await store.addCredential(), at: self.at(Double(index))).id)
            }
            #expect(try await store.claimJobs(owner: "A", now: self.at(10), leaseUntil: self.at(60), limit: 1) == [ids[0]])
            // A still runs ids[0]: the next claim of one job must bring ids[1], not ids[0] again.
            #expect(try await store.claimJobs(owner: "A", now: self.at(11), leaseUntil: self.at(60), limit: 1) == [ids[1]])
            #expect(try await store.claimJobs(owner: "B", now: self.at(12), leaseUntil: self.at(60), limit: 1) == [ids[2]])

            // A restarts: its leases go, B's stay.
            try await store.releaseLeases(owner: "A")
            #expect(try await store.claimJobs(owner: "A", now: self.at(13), leaseUntil: self.at(60), limit: 10) == [ids[0], ids[1]])
            #expect(try await store.renewLease(ids[2], owner: "B", until: self.at(90)))
        }
    }

    package func servedKeyNotifications(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let heard = Mutex<[CredentialID?]>([])
            store.observeServedKeys { id in heard.withLock { $0.append(id) } }
            let credential = try await store.addCredential()
            let job = try await store.addJob(for: credential)
            _ = try await store.claimJobs(owner: "A", now: self.t0, leaseUntil: self.at(60), limit: 1)

            // queued → running: the job moved, so the key it serves may have.
            var rotation = try await store.rotation(job.id)
            try rotation.job.start(at: self.at(1))
            try await store.commit(RotationCommit(job: rotation.job), owner: "A")
            #expect(heard.withLock { $0 } == [credential.id])

            // An attempt within the same step changes nothing an agent or a consumer is served.
            rotation = try await store.rotation(job.id)
            try rotation.job.beginAttempt(at: self.at(2))
            try await store.commit(RotationCommit(job: rotation.job), owner: "A")
            #expect(heard.withLock { $0 } == [credential.id])

            // create → distribute, with the pending key.
            rotation = try await store.rotation(job.id)
            try rotation.job.completeStep(at: self.at(3))
            try await store.commit(RotationCommit(job: rotation.job, pendingKey: .set(Secret("pending-key"))), owner: "A")
            #expect(heard.withLock { $0 } == [credential.id, credential.id])

            // A refused commit tells nobody.
            _ = await #expect(throws: StoreError.self) { try await store.commit(RotationCommit(job: rotation.job), owner: "A") }
            #expect(heard.withLock { $0 }.count == 2)

            // A cancel turns the job to its rollback.
            _ = try await store.requestCancel(job.id, at: self.at(4))
            #expect(heard.withLock { $0 } == [credential.id, credential.id, credential.id])
            // Asking again changes nothing.
            _ = try await store.requestCancel(job.id, at: self.at(5))
            #expect(heard.withLock { $0 }.count == 3)
        }
    }

    package func knownJobReuse(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let job = try await store.addJob(for: try await store.addCredential())
            // The runner's copy, marked so that seeing the marker back shows it was reused.
            var known = job
            known.reason = "runner's copy"
            let reused = try await store.rotation(job.id, knownJob: known).job
            #expect(reused.revision == job.revision)
            // Handed back without decoding the row.
            #expect(reused.reason == "runner's copy")

            // With the runner's copy, the credential and every secret read as in a full read.
            _ = try await store.claimJobs(owner: "A", now: self.t0, leaseUntil: self.at(60), limit: 1)
            try await store.commit(RotationCommit(job: job, pendingKey: .set(Secret("pending-key"))), owner: "A")
            known.revision += 1
            let full = try await store.rotation(job.id)
            let fast = try await store.rotation(job.id, knownJob: known)
            #expect(fast.job.reason == "runner's copy")
            #expect(fast.pendingKey == Secret("pending-key") && full.pendingKey == fast.pendingKey)
            #expect(fast.secrets == full.secrets)
            #expect(!fast.secrets.signingSecrets.isEmpty, "the sample credential has a target with a signing secret")
            #expect(fast.credential == full.credential)
            known = fast.job

            // A cancel bumps the revision: the stored job comes back, with the cancel.
            _ = try await store.requestCancel(job.id, at: self.at(1))
            let fresh = try await store.rotation(job.id, knownJob: known).job
            #expect(fresh.reason != "runner's copy")
            #expect(fresh.revision == known.revision + 1)
            #expect(fresh.cancelRequested || fresh.state == .cancelled)
        }
    }

    package func renewAndRelease(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let job = try await store.addJob(for: try await store.addCredential())
            _ = try await store.claimJobs(owner: "A", now: self.t0, leaseUntil: self.at(60), limit: 1)

            #expect(try await store.renewLease(job.id, owner: "B", until: self.at(500)) == false)
            #expect(try await store.renewLease(job.id, owner: "A", until: self.at(120)))
            #expect(try await store.claimJobs(owner: "B", now: self.at(100), leaseUntil: self.at(200), limit: 1).isEmpty)

            try await store.releaseLease(job.id, owner: "B")  // not B's: no effect
            #expect(try await store.claimJobs(owner: "B", now: self.at(100), leaseUntil: self.at(200), limit: 1).isEmpty)
            try await store.releaseLease(job.id, owner: "A")
            #expect(try await store.claimJobs(owner: "B", now: self.at(100), leaseUntil: self.at(200), limit: 1) == [job.id])
            #expect(try await store.renewLease(.generate(), owner: "B", until: self.at(300)) == false)
        }
    }

    package func backoff(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let job = try await store.addJob(for: try await store.addCredential())
            _ = try await store.claimJobs(owner: "A", now: self.t0, leaseUntil: self.at(60), limit: 1)
            var rotation = try await store.rotation(job.id)
            try rotation.job.start(at: self.at(1))
            try rotation.job.beginAttempt(at: self.at(1))
            try rotation.job.retry(notBefore: self.at(100), at: self.at(2))
            try await store.commit(RotationCommit(job: rotation.job), owner: "A")
            try await store.releaseLease(job.id, owner: "A")

            #expect(try await store.claimJobs(owner: "B", now: self.at(50), leaseUntil: self.at(150), limit: 1).isEmpty)
            #expect(try await store.claimJobs(owner: "B", now: self.at(100), leaseUntil: self.at(150), limit: 1) == [job.id])
            #expect(try await store.job(job.id)?.nextAttemptAt == self.at(100))
        }
    }

    package func commitGuards(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let job = try await store.addJob(for: try await store.addCredential())

            var rotation = try await store.rotation(job.id)
            try rotation.job.start(at: self.at(1))
            let unleased = await #expect(throws: StoreError.self) { try await store.commit(RotationCommit(job: rotation.job), owner: "A") }
            #expect(unleased?.code == .leaseLost)

            _ = try await store.claimJobs(owner: "A", now: self.t0, leaseUntil: self.at(60), limit: 1)
            #expect(rotation.job.revision == 1)
            try await store.commit(RotationCommit(job: rotation.job), owner: "A")
            #expect(try await store.job(job.id)?.revision == 2)

            // A stale revision (the job as read before that commit) is refused.
            let stale = await #expect(throws: StoreError.self) { try await store.commit(RotationCommit(job: rotation.job), owner: "A") }
            #expect(stale?.code == .conflict)

            // So is a revision overtaken by a cancel through the API.
            rotation.job.revision = 2
            try rotation.job.beginAttempt(at: self.at(2))
            let cancelled = try await store.requestCancel(job.id, at: self.at(3))
            #expect(cancelled.revision == 3)
            #expect(cancelled.step == .rollback)
            let conflict = await #expect(throws: StoreError.self) { try await store.commit(RotationCommit(job: rotation.job), owner: "A") }
            #expect(conflict?.code == .conflict)
            #expect(try await store.job(job.id) == cancelled)
        }
    }

    package func secretChanges(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = try await store.addCredential()
            let job = try await store.addJob(for: credential)
            _ = try await store.claimJobs(owner: "A", now: self.t0, leaseUntil: self.at(60), limit: 1)

            var rotation = try await store.rotation(job.id)
            #expect(rotation.pendingKey == nil)
            #expect(rotation.credential == (try await store.credential(credential.id)))
            #expect(rotation.secrets.current == Sample.currentSecret(of: credential))
            let oldSecret = rotation.secrets.current

            try rotation.job.start(at: self.at(1))
            try rotation.job.beginAttempt(at: self.at(1))
            rotation.job.newKey = Sample.key("key-new", at: self.at(1))
            try rotation.job.completeStep(at: self.at(1))
            try await store.commit(RotationCommit(job: rotation.job, pendingKey: .set(Secret("new-secret"))), owner: "A")

            rotation = try await store.rotation(job.id)
            #expect(rotation.pendingKey == Secret("new-secret"))
            #expect(rotation.job.newKey == Sample.key("key-new", at: self.at(1)))
            #expect(rotation.job.step == .distribute)

            // grace: the new key becomes current, the old one previous.
            var credentialAfter = rotation.credential
            credentialAfter.previous = credentialAfter.current
            credentialAfter.current = try #require(rotation.job.newKey)
            credentialAfter.version += 1
            try await store.commit(
                RotationCommit(
                    job: rotation.job, credential: credentialAfter,
                    currentKey: .set(Secret("new-secret")), previousKey: .set(oldSecret), pendingKey: .clear),
                owner: "A")

            rotation = try await store.rotation(job.id)
            #expect(rotation.pendingKey == nil)
            #expect(rotation.credential == credentialAfter)
            #expect(rotation.secrets.current == Secret("new-secret"))
            #expect(rotation.secrets.previous == oldSecret)
            #expect(rotation.secrets.signingSecrets.count == 1)
            #expect(rotation.job.revision == 3)

            // finalize: the previous key is gone; the job ends and its lease with it.
            var finalCredential = credentialAfter
            finalCredential.previous = nil
            finalCredential.state = .active
            var finished = rotation.job
            while finished.state == .running {
                try finished.beginAttempt(at: self.at(5))
                try finished.completeStep(at: self.at(5))
            }
            #expect(finished.state == .succeeded)
            try await store.commit(RotationCommit(job: finished, credential: finalCredential, previousKey: .clear), owner: "A")
            #expect(try await store.credentialSecrets(credential.id).previous == nil)
            #expect(try await store.renewLease(job.id, owner: "A", until: self.at(100)) == false)
            #expect(try await store.claimJobs(owner: "A", now: self.at(10), leaseUntil: self.at(100), limit: 10).isEmpty)
            #expect(try await store.credential(credential.id) == finalCredential)
            // Only the commit that ended the job left an audit entry: the engine's, naming the outcome.
            let audit = store
            let entries = try await audit.auditEntries(PageRequest(limit: 10)).items
            #expect(entries.map(\.record.action) == ["job.succeeded"])
            #expect(entries.first?.record.actor == "engine")
            #expect(entries.first?.record.resource == job.id.rawValue)
            // Audit times are kept to the millisecond (the RFC 3339 text the hash covers).
            #expect(abs((entries.first?.record.at ?? .distantPast).timeIntervalSince(self.at(5))) < 0.001)
        }
    }

    package func cancelQueued(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = try await store.addCredential()
            let job = try await store.addJob(for: credential)
            #expect(try await store.credential(credential.id)?.state == .rotating)

            let cancelled = try await store.requestCancel(job.id, at: self.at(5))
            #expect(cancelled.state == .cancelled)
            #expect(cancelled.cancelRequested)
            #expect(cancelled.finishedAt == self.at(5))
            #expect(try await store.job(job.id) == cancelled)
            #expect(try await store.credential(credential.id)?.state == .active)
            #expect(try await store.claimJobs(owner: "A", now: self.at(10), leaseUntil: self.at(100), limit: 10).isEmpty)

            let missing = await #expect(throws: StoreError.self) { _ = try await store.requestCancel(.generate(), at: self.t0) }
            #expect(missing?.code == .notFound)
        }
    }

    package func cancelTooLate(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let job = try await store.addJob(for: try await store.addCredential())
            _ = try await store.claimJobs(owner: "A", now: self.t0, leaseUntil: self.at(60), limit: 1)
            var rotation = try await store.rotation(job.id)
            try rotation.job.start(at: self.at(1))
            while rotation.job.step != .revoke {
                try rotation.job.beginAttempt(at: self.at(1))
                try rotation.job.completeStep(at: self.at(1))
            }
            try await store.commit(RotationCommit(job: rotation.job), owner: "A")
            let before = try await store.job(job.id)

            let error = await #expect(throws: JobTransitionError.self) { _ = try await store.requestCancel(job.id, at: self.at(2)) }
            #expect(error?.isTooLateToCancel == true)
            #expect(try await store.job(job.id) == before)
            #expect(try await store.events(job.id).isEmpty)
        }
    }
}
