public import Foundation

/// A job's lifecycle state (DESIGN.md §2). The last four are terminal.
public enum JobState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Waiting for the engine.
    case queued
    /// Being worked on (forward, or rolling back).
    case running
    /// The new key is current and verified; the old key is deleted at the provider.
    case succeeded
    /// A step before `revoke` failed; the new key was deleted, the old key still works.
    case rolledBack = "rolled_back"
    /// Cancelled before `revoke`; rolled back as above.
    case cancelled
    /// Rotor could not reach a safe end by itself; the credential needs attention.
    case failed

    /// Whether the job is over.
    public var isTerminal: Bool {
        switch self {
        case .queued, .running: false
        case .succeeded, .rolledBack, .cancelled, .failed: true
        }
    }
}

/// The steps of a rotation, in order, plus `rollback`, which undoes the steps before `revoke`.
public enum JobStep: String, Sendable, Hashable, Codable, CaseIterable {
    /// Create the new key at the provider.
    case create
    /// Deliver it to every target.
    case distribute
    /// Check that it authenticates and that every target uses it.
    case verify
    /// Make it current; wait out the grace period.
    case grace
    /// Delete the old key at the provider, authenticating with the new one.
    case revoke
    /// Record the old key as revoked, purge the pending copy, emit events.
    case finalize
    /// Delete the new key (and any orphan named for the job), tell targets, restore the old key.
    case rollback

    /// The step after this one on the forward path; nil after `finalize` and for `rollback`.
    public var next: JobStep? {
        switch self {
        case .create: .distribute
        case .distribute: .verify
        case .verify: .grace
        case .grace: .revoke
        case .revoke: .finalize
        case .finalize, .rollback: nil
        }
    }

    /// Whether a failure here still rolls back (DESIGN.md §2, rule 5): from `revoke` on, never.
    public var canRollBack: Bool {
        switch self {
        case .create, .distribute, .verify, .grace: true
        case .revoke, .finalize, .rollback: false
        }
    }
}

/// What started a job.
public struct Trigger: Sendable, Hashable, Codable {
    /// The kinds of trigger.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// `POST /v1/jobs`.
        case api
        /// A signed inbound hook.
        case webhook
        /// The scheduler.
        case schedule
        /// A leaked-secret report.
        case leak
    }

    /// The kind.
    public var kind: Kind
    /// Who: a token id, a trigger id, a leak report's URL.
    public var source: String?

    /// Creates a trigger.
    public init(kind: Kind, source: String? = nil) {
        self.kind = kind
        self.source = source
    }
}

/// Why a job stopped moving forward: what a human reads in `GET /v1/jobs/{id}`.
public struct JobError: Sendable, Hashable, Codable {
    /// A stable code (`provider_rejected`, `target_failed`, `revoke_failed`, ...).
    public var code: String
    /// What happened and, for `failed` jobs, what a human must do. Never a secret.
    public var message: String
    /// The step it happened in.
    public var step: JobStep

    /// Creates an error.
    public init(code: String, message: String, step: JobStep) {
        self.code = code
        self.message = message
        self.step = step
    }
}

/// One target's progress within a job.
public struct JobTarget: Sendable, Hashable, Codable {
    /// The delivery states.
    public enum State: String, Sendable, Hashable, Codable {
        /// Not delivered yet.
        case pending
        /// `key.pending` accepted.
        case delivered
        /// `verify_url` answered 2xx (or there is none).
        case verified
        /// Delivery or verification failed permanently.
        case failed
        /// Told `key.rolled_back`.
        case rolledBack = "rolled_back"
    }

    /// The target.
    public var targetID: TargetID
    /// Its state.
    public var state: State
    /// Delivery attempts so far.
    public var attempts: Int
    /// The last failure, for operators.
    public var lastError: String?
    /// Agent targets: when `verify` stops waiting for acknowledgements. Set by the first verify
    /// attempt and stored, so a restart does not start the wait again.
    public var verifyDeadline: Date?

    /// Creates a pending target.
    public init(targetID: TargetID, state: State = .pending, attempts: Int = 0, lastError: String? = nil, verifyDeadline: Date? = nil) {
        self.targetID = targetID
        self.state = state
        self.attempts = attempts
        self.lastError = lastError
        self.verifyDeadline = verifyDeadline
    }

    enum CodingKeys: String, CodingKey {
        case targetID = "target_id"
        case state, attempts
        case lastError = "last_error"
        case verifyDeadline = "verify_deadline"
    }
}
