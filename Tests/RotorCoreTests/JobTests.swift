import Foundation
import RotorCore
import Testing

@Suite struct JobTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let oldKey = KeyInfo(providerKeyID: "old", fingerprint: "sha256:000000000000", createdAt: t0)

    private func queued() -> Job {
        Job(credentialID: .generate(), trigger: Trigger(kind: .api), oldKey: Self.oldKey, targets: [.generate()], at: Self.t0)
    }

    /// A running job advanced to `step`.
    private func running(at step: JobStep) throws -> Job {
        var job = self.queued()
        try job.start(at: Self.t0)
        while job.step != step {
            try job.beginAttempt(at: Self.t0)
            try job.completeStep(at: Self.t0)
        }
        return job
    }

    @Test("the forward path walks create → distribute → verify → grace → revoke → finalize → succeeded")
    func forwardPath() throws {
        var job = self.queued()
        #expect(job.state == .queued)
        try job.start(at: Self.t0)
        var visited: [JobStep] = []
        while job.state == .running {
            visited.append(job.step)
            try job.beginAttempt(at: Self.t0)
            #expect(job.attempt == 1)
            try job.completeStep(at: Self.t0)
            #expect(job.attempt == 0)
        }
        #expect(visited == [.create, .distribute, .verify, .grace, .revoke, .finalize])
        #expect(job.state == .succeeded)
        #expect(job.finishedAt == Self.t0)
        #expect(job.error == nil)
    }

    @Test("a permanent failure before revoke rolls back; the rollback ends rolled_back", arguments: [JobStep.create, .distribute, .verify, .grace])
    func rollsBackBeforeRevoke(step: JobStep) throws {
        var job = try self.running(at: step)
        try job.beginAttempt(at: Self.t0)
        let failed = try job.failStep(JobError(code: "provider_rejected", message: "HTTP 403", step: step), at: Self.t0)
        #expect(!failed)
        #expect(job.state == .running)
        #expect(job.step == .rollback)
        #expect(job.error?.step == step)
        try job.beginAttempt(at: Self.t0)
        try job.completeStep(at: Self.t0)
        #expect(job.state == .rolledBack)
        #expect(job.error?.code == "provider_rejected")
    }

    @Test("from revoke on, a failure never rolls back: the job fails", arguments: [JobStep.revoke, .finalize])
    func failsFromRevoke(step: JobStep) throws {
        var job = try self.running(at: step)
        try job.beginAttempt(at: Self.t0)
        let failed = try job.failStep(JobError(code: "revoke_failed", message: "HTTP 500 eight times", step: step), at: Self.t0)
        #expect(failed)
        #expect(job.state == .failed)
        #expect(job.step == step)
    }

    @Test("a rollback that fails ends failed, keeping the first error and adding the second")
    func rollbackFailure() throws {
        var job = try self.running(at: .verify)
        try job.failStep(JobError(code: "target_failed", message: "Target answered 500.", step: .verify), at: Self.t0)
        try job.beginAttempt(at: Self.t0)
        #expect(try job.failStep(JobError(code: "delete_failed", message: "Could not delete the new key.", step: .rollback), at: Self.t0))
        #expect(job.state == .failed)
        #expect(job.error?.code == "target_failed")
        #expect(job.error?.message.contains("Could not delete the new key.") == true)
    }

    @Test("cancel: a queued job ends at once; a running one rolls back and ends cancelled")
    func cancel() throws {
        var queued = self.queued()
        try queued.requestCancel(at: Self.t0)
        #expect(queued.state == .cancelled)

        var grace = try self.running(at: .grace)
        try grace.requestCancel(at: Self.t0)
        #expect(grace.step == .rollback)
        #expect(grace.cancelRequested)
        try grace.requestCancel(at: Self.t0)  // idempotent
        try grace.beginAttempt(at: Self.t0)
        try grace.completeStep(at: Self.t0)
        #expect(grace.state == .cancelled)
        #expect(throws: Never.self) { try grace.requestCancel(at: Self.t0) }
    }

    @Test("cancel is refused once revoke has begun or the job ended", arguments: [JobStep.revoke, .finalize])
    func cancelTooLate(step: JobStep) throws {
        var job = try self.running(at: step)
        #expect {
            try job.requestCancel(at: Self.t0)
        } throws: { error in
            (error as? JobTransitionError)?.isTooLateToCancel == true
        }
        #expect(job.step == step)
        #expect(job.state == .running)
    }

    @Test("transitions on a finished job are refused and change nothing")
    func terminalIsFinal() throws {
        var job = try self.running(at: .finalize)
        try job.completeStep(at: Self.t0)
        let finished = job
        #expect(throws: JobTransitionError.self) { try job.beginAttempt(at: Self.t0) }
        #expect(throws: JobTransitionError.self) { try job.completeStep(at: Self.t0) }
        #expect(throws: JobTransitionError.self) { try job.start(at: Self.t0) }
        #expect(job == finished)
    }

    @Test("a retry keeps the step and records when the next attempt is due")
    func retry() throws {
        var job = try self.running(at: .create)
        try job.beginAttempt(at: Self.t0)
        try job.retry(notBefore: Self.t0.addingTimeInterval(4), at: Self.t0)
        #expect(job.step == .create)
        #expect(job.attempt == 1)
        #expect(job.nextAttemptAt == Self.t0.addingTimeInterval(4))
        try job.beginAttempt(at: Self.t0.addingTimeInterval(4))
        #expect(job.attempt == 2)
        #expect(job.nextAttemptAt == nil)
    }

    @Test("the provider-side key name is deterministic for the job")
    func keyName() {
        let job = self.queued()
        #expect(job.providerKeyName == "rotor-\(job.id.rawValue)")
    }
}
