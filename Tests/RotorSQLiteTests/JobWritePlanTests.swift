import Foundation
import RotorCore
import RotorStorage
import Testing

/// ``CommitPlan`` and ``CancelPlan`` decide what both drivers write for a commit and a cancel;
/// the store suites check the drivers carry them out, these check the decisions.
@Suite struct JobWritePlanTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let oldKey = KeyInfo(providerKeyID: "old", fingerprint: "sha256:000000000000", createdAt: t0)

    private func queued() -> Job {
        Job(credentialID: .generate(), trigger: Trigger(kind: .api), oldKey: Self.oldKey, targets: [.generate()], at: Self.t0)
    }

    private func running() throws -> Job {
        var job = self.queued()
        try job.start(at: Self.t0)
        try job.beginAttempt(at: Self.t0)
        return job
    }

    @Test("a commit is refused when another owner holds the lease, or none does")
    func lostLease() throws {
        let job = try self.running()
        for holder in ["other", nil] as [String?] {
            let stored = JobGuard(leaseOwner: holder, revision: job.revision, state: .running, step: job.step)
            let error = #expect(throws: StoreError.self) { try CommitPlan(RotationCommit(job: job), owner: "me", stored: stored) }
            #expect(error?.code == .leaseLost)
        }
    }

    @Test("a commit of a job read at an older revision is a conflict")
    func staleRevision() throws {
        let job = try self.running()
        let stored = JobGuard(leaseOwner: "me", revision: job.revision + 1, state: .running, step: job.step)
        let error = #expect(throws: StoreError.self) { try CommitPlan(RotationCommit(job: job), owner: "me", stored: stored) }
        #expect(error?.code == .conflict)
    }

    @Test("a commit writes the next revision and only the secrets it changes, in order")
    func secretsAndRevision() throws {
        let job = try self.running()
        let commit = RotationCommit(job: job, currentKey: .set(Secret("new")), previousKey: .unchanged, pendingKey: .clear)
        let plan = try CommitPlan(commit, owner: "me", stored: JobGuard(leaseOwner: "me", revision: job.revision, state: .running, step: job.step))
        #expect(plan.revision == job.revision + 1)
        #expect(plan.secrets.map(\.field) == [EnvelopeField.currentKey, EnvelopeField.pendingKey])
        #expect(plan.secrets.map(\.owner) == [job.credentialID.rawValue, job.id.rawValue])
        #expect(plan.secrets.map(\.change) == [.set(Secret("new")), .clear])
        #expect(!plan.finishes)
        #expect(!plan.movesJob)
        #expect(plan.auditRecord == nil)
    }

    @Test("only the commit that moves a job into a terminal state finishes it and audits the outcome")
    func finishing() throws {
        var job = self.queued()
        try job.requestCancel(at: Self.t0)
        #expect(job.state == .cancelled)
        let fromRunning = try CommitPlan(RotationCommit(job: job), owner: "me", stored: JobGuard(leaseOwner: "me", revision: job.revision, state: .running, step: job.step))
        #expect(fromRunning.finishes)
        #expect(fromRunning.movesJob)
        #expect(fromRunning.auditRecord?.action == "job.\(job.state.rawValue)")
        #expect(fromRunning.auditRecord?.actor == "engine")
        #expect(fromRunning.auditRecord?.resource == job.id.rawValue)
        let again = try CommitPlan(RotationCommit(job: job), owner: "me", stored: JobGuard(leaseOwner: "me", revision: job.revision, state: job.state, step: job.step))
        #expect(!again.finishes)
        #expect(again.auditRecord == nil)
    }

    @Test("cancelling a queued job ends it at once, by the caller, with the event and a new revision")
    func cancelQueued() throws {
        let stored = self.queued()
        let plan = try CancelPlan(stored: stored, at: Self.t0.addingTimeInterval(5), actor: "token:tok_1")
        #expect(plan.rewritesJob)
        #expect(plan.job.revision == stored.revision + 1)
        #expect(plan.job.state.isTerminal)
        #expect(plan.finishes)
        #expect(plan.auditRecord?.actor == "token:tok_1")
        #expect(plan.event.type == "job.cancel_requested")
        #expect(plan.event.step == stored.step)
    }

    @Test("cancelling a running job asks for the rollback without ending it; asking again changes nothing but the event")
    func cancelRunning() throws {
        let stored = try self.running()
        let first = try CancelPlan(stored: stored, at: Self.t0, actor: "admin")
        #expect(first.rewritesJob)
        #expect(!first.finishes)
        #expect(first.auditRecord == nil)
        let second = try CancelPlan(stored: first.job, at: Self.t0, actor: "admin")
        #expect(!second.rewritesJob)
        #expect(second.job.revision == first.job.revision)
        #expect(second.event.type == "job.cancel_requested")
    }
}
