public import Foundation

/// A rotation job: one credential taken from its old key to a new one.
///
/// The transitions below are the only way its state and step change. They are pure: the engine
/// applies one, then commits the result (with the provider's answer) in one transaction, so the
/// rules of DESIGN.md §2 live here once for the engine and every store.
public struct Job: Sendable, Hashable {
    /// The id.
    public var id: JobID
    /// The credential being rotated.
    public var credentialID: CredentialID
    /// The lifecycle state.
    public private(set) var state: JobState
    /// The step being worked on, or the last one worked on once terminal.
    public private(set) var step: JobStep
    /// What started it.
    public var trigger: Trigger
    /// Why, as the caller put it.
    public var reason: String?
    /// Validate only: create and delete nothing.
    public var dryRun: Bool
    /// The overlap during which both keys work.
    public var gracePeriod: ISODuration
    /// When the grace period ends; stored so a restart does not start it again.
    public var graceEndsAt: Date?
    /// Attempts made at the current step (1 during the first).
    public private(set) var attempt: Int
    /// Not before this time is the next attempt due (backoff).
    public private(set) var nextAttemptAt: Date?
    /// When the `create` attempt whose outcome is not recorded began: set with its intent,
    /// cleared with its outcome, and kept through a cancel (which resets the step and attempt
    /// count). Such a create may still land at the provider until the provider's request timeout
    /// has passed, so neither a resumed `create` nor a `rollback` looks for the job's orphan key
    /// before then (DESIGN.md §2 rule 2). Nil for a dry run, which creates nothing.
    public private(set) var createAttemptBegunAt: Date?
    /// An operator asked to cancel; the rollback ends in `cancelled`.
    public private(set) var cancelRequested: Bool
    /// Created.
    public var createdAt: Date
    /// First started.
    public private(set) var startedAt: Date?
    /// Last change.
    public private(set) var updatedAt: Date
    /// Reached a terminal state.
    public private(set) var finishedAt: Date?
    /// The new key, once created.
    public var newKey: KeyInfo?
    /// The key being replaced.
    public var oldKey: KeyInfo
    /// Each target's progress.
    public var targets: [JobTarget]
    /// Why it stopped moving forward.
    public private(set) var error: JobError?
    /// The stored revision, for optimistic concurrency: the store writes a job only while its
    /// stored revision still equals this one, and increments it. Store-managed.
    public var revision: Int

    /// A queued job.
    public init(
        id: JobID = .generate(),
        credentialID: CredentialID,
        trigger: Trigger,
        reason: String? = nil,
        dryRun: Bool = false,
        gracePeriod: ISODuration = .zero,
        oldKey: KeyInfo,
        targets: [TargetID],
        at now: Date
    ) {
        self.id = id
        self.credentialID = credentialID
        self.state = .queued
        self.step = .create
        self.trigger = trigger
        self.reason = reason
        self.dryRun = dryRun
        self.gracePeriod = gracePeriod
        self.graceEndsAt = nil
        self.attempt = 0
        self.nextAttemptAt = nil
        self.createAttemptBegunAt = nil
        self.cancelRequested = false
        self.createdAt = now
        self.startedAt = nil
        self.updatedAt = now
        self.finishedAt = nil
        self.newKey = nil
        self.oldKey = oldKey
        self.targets = targets.map { JobTarget(targetID: $0) }
        self.error = nil
        self.revision = 0
    }

    /// Restores a job exactly as a store saved it.
    public init(
        restoring id: JobID,
        credentialID: CredentialID,
        state: JobState,
        step: JobStep,
        trigger: Trigger,
        reason: String?,
        dryRun: Bool,
        gracePeriod: ISODuration,
        graceEndsAt: Date?,
        attempt: Int,
        nextAttemptAt: Date?,
        createAttemptBegunAt: Date?,
        cancelRequested: Bool,
        createdAt: Date,
        startedAt: Date?,
        updatedAt: Date,
        finishedAt: Date?,
        newKey: KeyInfo?,
        oldKey: KeyInfo,
        targets: [JobTarget],
        error: JobError?,
        revision: Int
    ) {
        self.id = id
        self.credentialID = credentialID
        self.state = state
        self.step = step
        self.trigger = trigger
        self.reason = reason
        self.dryRun = dryRun
        self.gracePeriod = gracePeriod
        self.graceEndsAt = graceEndsAt
        self.attempt = attempt
        self.nextAttemptAt = nextAttemptAt
        self.createAttemptBegunAt = createAttemptBegunAt
        self.cancelRequested = cancelRequested
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.finishedAt = finishedAt
        self.newKey = newKey
        self.oldKey = oldKey
        self.targets = targets
        self.error = error
        self.revision = revision
    }

    /// The provider-side name of the job's new key. Deterministic, so that after a crash between
    /// the provider's answer and the commit, the orphan can be found and deleted (rule 2).
    public var providerKeyName: String { "rotor-\(self.id.rawValue)" }
}

/// What a caller decides about a new job: which credential, why, how. Everything a job takes
/// from its credential (the old key, the targets) is left to the store, which fills it in from
/// the credential row it reads in the transaction that inserts the job
/// (``Job/init(_:credential:)``). A snapshot read before that transaction could be a rotation
/// behind: the job would then revoke a key that is already gone and leave the real old key live.
public struct NewJob: Sendable, Hashable {
    /// How long an `Idempotency-Key` answers with the job it created (24 h); after that the same
    /// key starts a new job.
    public static let idempotencyLifetime: TimeInterval = 86_400

    /// The id the job will have.
    public var id: JobID
    /// The credential to rotate.
    public var credentialID: CredentialID
    /// What starts it.
    public var trigger: Trigger
    /// Why, as the caller put it.
    public var reason: String?
    /// Validate only: create and delete nothing.
    public var dryRun: Bool
    /// The overlap during which both keys work.
    public var gracePeriod: ISODuration
    /// When it was asked for.
    public var createdAt: Date

    /// Describes a queued job.
    public init(
        id: JobID = .generate(),
        credentialID: CredentialID,
        trigger: Trigger,
        reason: String? = nil,
        dryRun: Bool = false,
        gracePeriod: ISODuration = .zero,
        at now: Date
    ) {
        self.id = id
        self.credentialID = credentialID
        self.trigger = trigger
        self.reason = reason
        self.dryRun = dryRun
        self.gracePeriod = gracePeriod
        self.createdAt = now
    }
}

extension Job {
    /// The queued job `new` describes, taking its old key and targets from `credential`: the
    /// row as the store read it in the transaction that inserts the job.
    public init(_ new: NewJob, credential: Credential) {
        self.init(
            id: new.id,
            credentialID: new.credentialID,
            trigger: new.trigger,
            reason: new.reason,
            dryRun: new.dryRun,
            gracePeriod: new.gracePeriod,
            oldKey: credential.current,
            targets: credential.targets.map(\.id),
            at: new.createdAt
        )
    }
}

/// A transition that the job's state does not allow.
public struct JobTransitionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was attempted and why it is not allowed.
    public var description: String
    /// Whether it is a cancel that came too late (`revoke` has begun).
    public var isTooLateToCancel: Bool
}

extension Job {
    /// queued → running at `create`.
    public mutating func start(at now: Date) throws(JobTransitionError) {
        guard self.state == .queued else { throw self.invalid("start") }
        self.state = .running
        self.step = .create
        self.attempt = 0
        self.startedAt = now
        self.updatedAt = now
    }

    /// Records the intent to attempt the current step: committed before the provider is called
    /// (rule 1), so a restart knows an attempt may have had effects.
    public mutating func beginAttempt(at now: Date) throws(JobTransitionError) {
        guard self.state == .running else { throw self.invalid("attempt \(self.step.rawValue)") }
        self.attempt += 1
        self.nextAttemptAt = nil
        self.updatedAt = now
        if self.step == .create && !self.dryRun { self.createAttemptBegunAt = now }
    }

    /// The current step succeeded: move to the next, or end the job.
    public mutating func completeStep(at now: Date) throws(JobTransitionError) {
        guard self.state == .running else { throw self.invalid("complete \(self.step.rawValue)") }
        self.attempt = 0
        self.nextAttemptAt = nil
        self.updatedAt = now
        // create's outcome is in; a rollback completes only after it waited out any create in doubt.
        self.createAttemptBegunAt = nil
        if self.step == .rollback {
            self.finish(self.cancelRequested ? .cancelled : .rolledBack, at: now)
        } else if let next = self.step.next {
            self.step = next
        } else {
            self.finish(.succeeded, at: now)
        }
    }

    /// A dry run's checks passed: it ends `succeeded` without having created or deleted anything.
    public mutating func completeDryRun(at now: Date) throws(JobTransitionError) {
        guard self.state == .running, self.dryRun, self.step == .create else { throw self.invalid("complete a dry run") }
        self.attempt = 0
        self.finish(.succeeded, at: now)
    }

    /// Waits without using up an attempt (the grace period): nothing is due before `until`.
    public mutating func wait(until: Date, at now: Date) throws(JobTransitionError) {
        guard self.state == .running else { throw self.invalid("wait") }
        self.nextAttemptAt = until
        self.updatedAt = now
    }

    /// `verify` waits for agent instances to acknowledge the new key: nothing is due before
    /// `until` (unless an acknowledgement arrives first), and the wait uses up no attempt, so
    /// however many acknowledgements wake the step, its retry budget is kept for real failures.
    public mutating func awaitAcknowledgements(until: Date, at now: Date) throws(JobTransitionError) {
        guard self.state == .running, self.step == .verify else { throw self.invalid("wait for acknowledgements") }
        self.nextAttemptAt = until
        self.attempt = 0
        self.updatedAt = now
    }

    /// A transient failure: try the same step again, not before `retryAt`.
    public mutating func retry(notBefore retryAt: Date, at now: Date) throws(JobTransitionError) {
        guard self.state == .running else { throw self.invalid("retry \(self.step.rawValue)") }
        self.nextAttemptAt = retryAt
        self.updatedAt = now
        // A create that failed transiently has its answer, or timed out: it lands no key later.
        if self.step == .create { self.createAttemptBegunAt = nil }
    }

    /// The current step failed for good (permanent error, or out of attempts).
    ///
    /// Before `revoke` the job turns to `rollback`; from `revoke` on, or when the rollback itself
    /// fails, it ends `failed` and the caller must put the credential in `attention`.
    /// - Returns: whether the job is now `failed`.
    @discardableResult
    public mutating func failStep(_ error: JobError, at now: Date) throws(JobTransitionError) -> Bool {
        guard self.state == .running else { throw self.invalid("fail \(self.step.rawValue)") }
        self.updatedAt = now
        self.attempt = 0
        self.nextAttemptAt = nil
        if self.step == .create { self.createAttemptBegunAt = nil }
        if self.step.canRollBack {
            self.error = error
            self.step = .rollback
            return false
        }
        if self.step == .rollback, let original = self.error {
            // Keep what went wrong first; say what is left for a human.
            self.error = JobError(
                code: original.code,
                message: "\(original.message) Rolling back then failed too: \(error.message)",
                step: original.step
            )
        } else {
            self.error = error
        }
        self.finish(.failed, at: now)
        return true
    }

    /// An operator's cancel: a queued job ends at once; a running one rolls back, unless `revoke`
    /// has begun. Cancelling a job that is already rolling back or cancelled changes nothing.
    public mutating func requestCancel(at now: Date) throws(JobTransitionError) {
        switch self.state {
        case .queued:
            self.cancelRequested = true
            self.finish(.cancelled, at: now)
        case .running where self.step.canRollBack:
            // `createAttemptBegunAt` stays: a create in flight when the cancel came may still
            // land, and the rollback must not look for its key before it could have.
            self.cancelRequested = true
            self.error = JobError(code: "cancelled", message: "Cancelled by request during \(self.step.rawValue).", step: self.step)
            self.step = .rollback
            self.attempt = 0
            self.nextAttemptAt = nil
            self.updatedAt = now
        case .running where self.step == .rollback:
            return
        case .cancelled:
            return
        case .running:
            throw JobTransitionError(description: "the job cannot be cancelled once revoke has begun (step \(self.step.rawValue))", isTooLateToCancel: true)
        case .succeeded, .rolledBack, .failed:
            throw JobTransitionError(description: "the job already ended (\(self.state.rawValue))", isTooLateToCancel: true)
        }
    }

    private mutating func finish(_ state: JobState, at now: Date) {
        self.state = state
        self.finishedAt = now
        self.updatedAt = now
    }

    private func invalid(_ action: String) -> JobTransitionError {
        JobTransitionError(description: "cannot \(action): job is \(self.state.rawValue) at \(self.step.rawValue)", isTooLateToCancel: false)
    }
}
