public import Foundation

/// What to append to the audit log: who did what to which resource, and how it ended.
///
/// Never a secret, token or signature: actors are token ids (`tok_…`, `admin`) or Rotor's own
/// parts (`engine`, `scheduler`, `trigger:trg_…`, `github-secret-scanning`), resources are ids.
public struct AuditRecord: Sendable, Hashable {
    /// When it happened.
    public var at: Date
    /// Who did it.
    public var actor: String
    /// What was done, `resource.verb`: `credential.create`, `secret.read`, `job.succeeded`, ...
    public var action: String
    /// The id it was done to.
    public var resource: String
    /// `success`, `denied`, or an outcome specific to the action (`true_positive`).
    public var outcome: String

    /// Creates a record.
    public init(at: Date, actor: String, action: String, resource: String, outcome: String = "success") {
        self.at = at
        self.actor = actor
        self.action = action
        self.resource = resource
        self.outcome = outcome
    }
}

/// One entry of the hash-chained audit log (`GET /v1/audit`).
public struct AuditEntry: Sendable, Hashable {
    /// Position in the log, from 1, without gaps.
    public var seq: Int
    /// The record.
    public var record: AuditRecord
    /// Lower-case hex SHA-256 over the entry's canonical encoding and the previous entry's hash.
    public var hash: String

    /// Creates an entry.
    public init(seq: Int, record: AuditRecord, hash: String) {
        self.seq = seq
        self.record = record
        self.hash = hash
    }
}

/// What ``AuditStore/verifyAuditChain()`` found.
public enum AuditVerification: Sendable, Hashable {
    /// Every entry's hash matches: this many entries.
    case intact(count: Int)
    /// The first entry whose hash does not match its content and predecessor (or whose seq
    /// breaks the sequence), with why.
    case broken(seq: Int, reason: String)
}

/// The audit log (DESIGN.md §4, Tokens and audit): append-only and hash-chained.
///
/// Writes that change something are audited in their own transaction: a store appends the
/// ``Audit/pending`` record (with ``Audit/actor``) of the task that calls a write method inside
/// that method's transaction, after its changes succeed, and nothing when the write throws. Job
/// outcomes (a commit that makes a job terminal) are appended by the store itself, as `engine`.
public protocol AuditStore: Sendable {
    /// Appends one record on its own (reads that must leave a trace: secret reads, denied ones).
    func appendAudit(_ record: AuditRecord) async throws
    /// Entries oldest first, in pages.
    func auditEntries(_ page: PageRequest) async throws -> Page<AuditEntry>
    /// Walks the whole chain, and holds every stored checkpoint against it: a log that no longer
    /// reaches a checkpoint's entry, or has another hash there, is broken.
    func verifyAuditChain() async throws -> AuditVerification
    /// A checkpoint of the log's newest entry, signed now under the keyring's active key and not
    /// stored; nil while the log is empty.
    func auditCheckpoint(at now: Date) async throws -> AuditCheckpoint?
    /// Signs the log's newest entry (as ``auditCheckpoint(at:)``) and stores the checkpoint, with
    /// an `audit.checkpoint` event for subscribers that want one, in one transaction. Returns it,
    /// or nil when there is nothing new to sign: the log is empty, or a checkpoint of its newest
    /// entry is already stored (by this instance or another one).
    func publishAuditCheckpoint(at now: Date) async throws -> AuditCheckpoint?
    /// The stored checkpoint of the highest entry, if any.
    func latestAuditCheckpoint() async throws -> AuditCheckpoint?
}

/// The audit context of the current task: who is acting, and the record a store write should
/// append in its transaction.
public enum Audit {
    /// Who the current task acts for; set per request from the bearer token.
    @TaskLocal public static var actor: String = "system"
    /// The record (action and resource) the next store write of this task appends.
    @TaskLocal public static var pending: PendingAudit?

    /// Runs `body` so that its store writes append `action` on `resource` to the audit log.
    public static func recording<T>(
        _ action: String, _ resource: String, at now: Date, outcome: String = "success",
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> T
    ) async rethrows -> T {
        try await self.$pending.withValue(PendingAudit(at: now, action: action, resource: resource, outcome: outcome), operation: body)
    }

    /// The full record for the current task's pending action, if there is one.
    public static var currentRecord: AuditRecord? {
        self.pending.map { AuditRecord(at: $0.at, actor: self.actor, action: $0.action, resource: $0.resource, outcome: $0.outcome) }
    }
}

/// An action waiting for its store write (``Audit/pending``).
public struct PendingAudit: Sendable, Hashable {
    /// When.
    public var at: Date
    /// What.
    public var action: String
    /// On which id.
    public var resource: String
    /// How it ended.
    public var outcome: String

    /// Creates it.
    public init(at: Date, action: String, resource: String, outcome: String = "success") {
        self.at = at
        self.action = action
        self.resource = resource
        self.outcome = outcome
    }
}
