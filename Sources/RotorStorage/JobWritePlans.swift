package import Foundation
package import RotorCore

/// The part of a job's row a write checks before it changes anything, read in the write's
/// transaction (under the row's lock on PostgreSQL).
package struct JobGuard: Sendable {
    package var leaseOwner: String?
    package var revision: Int
    package var state: JobState
    package var step: JobStep

    package init(leaseOwner: String?, revision: Int, state: JobState, step: JobStep) {
        self.leaseOwner = leaseOwner
        self.revision = revision
        self.state = state
        self.step = step
    }
}

/// One sealed secret a write replaces or removes.
package struct SecretWrite: Sendable {
    package var owner: String
    package var field: String
    package var change: SecretChange
}

/// What ``Store/commit(_:owner:)`` writes, decided before any write: the driver reads the
/// job's ``JobGuard``, builds the plan (which refuses a lost lease or a stale revision), then
/// carries out its writes in order in the same transaction:
/// 1. the job row at ``revision``;
/// 2. the outcome's audit record, when ``auditRecord`` has one;
/// 3. the credential's rotation columns, when ``credential`` is set;
/// 4. the outbox events the change reports (against the baseline read before these writes);
/// 5. ``secrets``, then ``events``.
/// After its transaction commits, a plan that ``finishes`` the job wakes whoever waits on it.
package struct CommitPlan: Sendable {
    package let job: Job
    /// The revision the job row is written at.
    package let revision: Int
    package let credential: Credential?
    package let secrets: [SecretWrite]
    package let events: [JobEvent]
    /// Whether this commit moves the job into a terminal state.
    package let finishes: Bool
    /// Whether the job moves to another step or state, which may change the key its credential
    /// serves to agents and pull consumers (``Store/observeServedKeys(_:)``).
    package let movesJob: Bool

    package init(_ commit: RotationCommit, owner: String, stored: JobGuard) throws(StoreError) {
        let job = commit.job
        guard stored.leaseOwner == owner else {
            throw StoreError(.leaseLost, message: "the lease on job \(job.id) is no longer held by \(owner)")
        }
        guard stored.revision == job.revision else {
            throw StoreError(
                .conflict, message: "job \(job.id) changed since it was read (revision \(stored.revision), expected \(job.revision))")
        }
        self.job = job
        self.revision = stored.revision + 1
        self.credential = commit.credential
        let credentialOwner = job.credentialID.rawValue
        self.secrets = [
            SecretWrite(owner: credentialOwner, field: EnvelopeField.currentKey, change: commit.currentKey),
            SecretWrite(owner: credentialOwner, field: EnvelopeField.previousKey, change: commit.previousKey),
            SecretWrite(owner: job.id.rawValue, field: EnvelopeField.pendingKey, change: commit.pendingKey),
        ].filter { $0.change != .unchanged }
        self.events = commit.events
        self.finishes = !stored.state.isTerminal && job.state.isTerminal
        self.movesJob = stored.step != job.step || stored.state != job.state
    }

    /// The audit record of the job's outcome, when this commit finishes it.
    package var auditRecord: AuditRecord? {
        self.finishes ? outcomeAuditRecord(self.job, actor: "engine") : nil
    }
}

/// What ``Store/requestCancel(_:at:)`` writes, decided from the stored job: the job row when
/// the request changes it, a `job.cancel_requested` event always, and when the job ends here
/// (it had not started) its outcome's audit record and its credential back to `active`.
package struct CancelPlan: Sendable {
    /// The job as it is after the request.
    package let job: Job
    /// Whether the job row changes (a job already cancelling or finished does not).
    package let rewritesJob: Bool
    package let event: JobEvent
    /// Whether the request moves the job into a terminal state.
    package let finishes: Bool
    private let actor: String

    package init(stored: Job, at now: Date, actor: String) throws(JobTransitionError) {
        var job = stored
        try job.requestCancel(at: now)
        self.rewritesJob = job != stored
        if self.rewritesJob { job.revision = stored.revision + 1 }
        self.job = job
        self.event = JobEvent(at: now, type: "job.cancel_requested", step: stored.step, message: "Cancellation requested.")
        self.finishes = !stored.state.isTerminal && job.state.isTerminal
        self.actor = actor
    }

    /// The audit record of the job's outcome, when the request finishes it.
    package var auditRecord: AuditRecord? {
        self.finishes ? outcomeAuditRecord(self.job, actor: self.actor) : nil
    }
}

/// `job.<state>` for `job`'s resource, at the time it finished.
package func outcomeAuditRecord(_ job: Job, actor: String) -> AuditRecord {
    AuditRecord(at: job.finishedAt ?? job.updatedAt, actor: actor, action: "job.\(job.state.rawValue)", resource: job.id.rawValue)
}
