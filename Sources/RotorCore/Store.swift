public import Foundation

/// One entry of a job's timeline (`GET /v1/jobs/{id}/events`).
public struct JobEvent: Sendable, Hashable, Codable {
    /// Position in the job's timeline, from 1; assigned by the store.
    public var seq: Int
    /// When it happened.
    public var at: Date
    /// What happened: `job.created`, `step.started`, `step.retry`, `step.succeeded`, `job.rolling_back`, ...
    public var type: String
    /// The step it concerns, if any.
    public var step: JobStep?
    /// A human-readable line. Never a secret.
    public var message: String

    /// Creates an event; `seq` is ignored on write and assigned by the store.
    public init(seq: Int = 0, at: Date, type: String, step: JobStep? = nil, message: String) {
        self.seq = seq
        self.at = at
        self.type = type
        self.step = step
        self.message = message
    }
}

/// A credential's secrets, decrypted: what the engine and the secret-pull route need.
public struct CredentialSecrets: Sendable, Hashable {
    /// The current key.
    public var current: Secret
    /// The key before it, while it still exists at the provider.
    public var previous: Secret?
    /// Each target's webhook signing secret.
    public var signingSecrets: [TargetID: Secret]
    /// Targets' previous signing secrets, kept while a roll's overlap lasts
    /// (``Target/previousSecretExpiresAt``).
    public var previousSigningSecrets: [TargetID: Secret]

    /// Creates the set.
    public init(
        current: Secret,
        previous: Secret? = nil,
        signingSecrets: [TargetID: Secret] = [:],
        previousSigningSecrets: [TargetID: Secret] = [:]
    ) {
        self.current = current
        self.previous = previous
        self.signingSecrets = signingSecrets
        self.previousSigningSecrets = previousSigningSecrets
    }
}

/// Everything one rotation step reads: the job, its credential, and their secrets, decrypted.
public struct Rotation: Sendable {
    /// The job.
    public var job: Job
    /// Its credential.
    public var credential: Credential
    /// The credential's secrets.
    public var secrets: CredentialSecrets
    /// The job's new key, from `create` until `finalize` purges it (or rollback deletes it).
    public var pendingKey: Secret?

    /// Creates the aggregate.
    public init(job: Job, credential: Credential, secrets: CredentialSecrets, pendingKey: Secret?) {
        self.job = job
        self.credential = credential
        self.secrets = secrets
        self.pendingKey = pendingKey
    }
}

/// A lease on a job: who may work on it, until when (DESIGN.md §2 rule 3).
public struct Lease: Sendable, Hashable {
    /// The instance holding it.
    public var owner: String
    /// When it lapses unless renewed.
    public var expiresAt: Date

    /// Creates a lease.
    public init(owner: String, expiresAt: Date) {
        self.owner = owner
        self.expiresAt = expiresAt
    }
}

/// A page request: `limit` 1–200 and an opaque cursor from the previous page.
public struct PageRequest: Sendable, Hashable {
    /// Items per page.
    public var limit: Int
    /// Where to continue; nil for the first page.
    public var cursor: String?

    /// Creates a request; `limit` is clamped to 1–200.
    public init(limit: Int = 50, cursor: String? = nil) {
        self.limit = min(max(limit, 1), 200)
        self.cursor = cursor
    }
}

/// One page of a list, newest first where the API says so.
public struct Page<Item: Sendable>: Sendable {
    /// The items.
    public var items: [Item]
    /// The cursor of the next page; nil on the last.
    public var nextCursor: String?

    /// Creates a page.
    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

/// Filters for `GET /v1/jobs`.
public struct JobFilter: Sendable, Hashable {
    /// Only this credential's jobs.
    public var credentialID: CredentialID?
    /// Only jobs in this state.
    public var state: JobState?

    /// Creates a filter.
    public init(credentialID: CredentialID? = nil, state: JobState? = nil) {
        self.credentialID = credentialID
        self.state = state
    }
}

/// How a job came to be returned by ``Store/createJob(_:idempotencyKey:requestFingerprint:events:)``.
public enum JobCreation: Sendable {
    /// A new job was stored.
    case created(Job)
    /// The same idempotency key with the same request: the job it created before.
    case replayed(Job)
}

/// What a ``Store`` refuses, as values the API maps to problem responses.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kinds of refusal.
    public enum Code: Sendable, Hashable {
        /// A credential with this name exists.
        case duplicateName
        /// No such record.
        case notFound
        /// The credential already has a non-terminal job (its id in ``StoreError/jobID``).
        case rotationInProgress
        /// The idempotency key was used with a different request.
        case idempotencyConflict
        /// The caller no longer holds the job's lease (another instance took it over).
        case leaseLost
        /// The record changed since it was read.
        case conflict
        /// The credential is disabled: no rotation may start.
        case credentialDisabled
        /// Another credential already holds this provider key (its id in ``StoreError/credentialID``).
        case duplicateKey
    }

    /// The kind.
    public var code: Code
    /// The active job, for ``Code/rotationInProgress``.
    public var jobID: JobID?
    /// The credential that holds the key, for ``Code/duplicateKey``.
    public var credentialID: CredentialID?
    /// Detail for logs and problem responses. Never a secret.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, jobID: JobID? = nil, credentialID: CredentialID? = nil, message: String) {
        self.code = code
        self.jobID = jobID
        self.credentialID = credentialID
        self.message = message
    }

    public var description: String { self.message }
}

/// A change to one stored secret within a commit.
public enum SecretChange: Sendable, Hashable {
    /// Leave it as it is.
    case unchanged
    /// Store this value (encrypted).
    case set(Secret)
    /// Remove it.
    case clear
}

/// The result of one rotation step, committed in a single transaction (DESIGN.md §2 rule 1):
/// the job as the transitions left it, the credential if it changed, secret changes, and the
/// events that describe it.
public struct RotationCommit: Sendable {
    /// The job after the step.
    public var job: Job
    /// The credential after the step, when it changed. Only what rotations own is written:
    /// state, version, current and previous key, last rotation and update time. Labels, schedule
    /// and targets patched meanwhile are kept.
    public var credential: Credential?
    /// The credential's current key.
    public var currentKey: SecretChange
    /// The credential's previous key.
    public var previousKey: SecretChange
    /// The job's pending new key.
    public var pendingKey: SecretChange
    /// Timeline entries to append.
    public var events: [JobEvent]

    /// Creates a commit.
    public init(
        job: Job,
        credential: Credential? = nil,
        currentKey: SecretChange = .unchanged,
        previousKey: SecretChange = .unchanged,
        pendingKey: SecretChange = .unchanged,
        events: [JobEvent] = []
    ) {
        self.job = job
        self.credential = credential
        self.currentKey = currentKey
        self.previousKey = previousKey
        self.pendingKey = pendingKey
        self.events = events
    }
}

/// Persistence for credentials and jobs (SQLite embedded, PostgreSQL for several instances).
///
/// Secrets cross this boundary as plaintext ``Secret`` values; the store keeps them only as
/// envelopes (DESIGN.md §3). Every method is one transaction.
public protocol Store: Sendable {
    // MARK: Credentials

    /// Stores a new credential with its secrets. Throws ``StoreError/Code/duplicateName``, or
    /// ``StoreError/Code/duplicateKey`` when another credential already holds its key: the same
    /// provider key id (as its current or previous key, or as the new key of its active job) or a
    /// current key with the same SHA-256. Checked in the inserting transaction, which the store
    /// serializes with every other registration, so two concurrent registrations of one key
    /// cannot both succeed.
    func createCredential(_ credential: Credential, secrets: CredentialSecrets) async throws
    /// The credential, or nil.
    func credential(_ id: CredentialID) async throws -> Credential?
    /// Credentials by name, in pages.
    func credentials(_ page: PageRequest) async throws -> Page<Credential>
    /// The credential's secrets, decrypted. Throws ``StoreError/Code/notFound``.
    func credentialSecrets(_ id: CredentialID) async throws -> CredentialSecrets
    /// Replaces the credential's metadata (and target signing secrets when given). With
    /// `ifUnmodifiedSince`, only while the stored `updatedAt` still equals it
    /// (``StoreError/Code/conflict`` otherwise), so a concurrent change is never overwritten.
    /// Throws ``StoreError/Code/notFound``, or ``StoreError/Code/duplicateName`` on a rename clash.
    func updateCredential(_ credential: Credential, signingSecrets: [TargetID: Secret]?, ifUnmodifiedSince: Date?) async throws
    /// Deletes the credential and its secrets. Throws ``StoreError/Code/rotationInProgress``
    /// while a job is active, ``StoreError/Code/notFound`` when absent.
    func deleteCredential(_ id: CredentialID) async throws

    // MARK: Jobs

    /// Stores a queued job and marks its credential `rotating`, unless the credential already has
    /// a non-terminal job (``StoreError/Code/rotationInProgress``, enforced by a unique index).
    /// The job's old key and targets come from the credential row as this transaction reads it
    /// once no other job of the credential can commit any more (``Job/init(_:credential:)``),
    /// never from a caller's earlier read. Throws ``StoreError/Code/notFound`` for a missing
    /// credential and ``StoreError/Code/credentialDisabled`` for a disabled one.
    /// With an idempotency key: the same key and fingerprint replay the earlier job; the same key
    /// with another fingerprint throws ``StoreError/Code/idempotencyConflict``.
    func createJob(_ job: NewJob, idempotencyKey: String?, requestFingerprint: String?, events: [JobEvent]) async throws -> JobCreation
    /// The job, or nil.
    func job(_ id: JobID) async throws -> Job?
    /// Jobs, newest first.
    func jobs(_ filter: JobFilter, _ page: PageRequest) async throws -> Page<Job>
    /// The job's timeline, in order.
    func events(_ id: JobID) async throws -> [JobEvent]

    // MARK: Running jobs

    /// Leases up to `limit` runnable jobs (non-terminal, due, unleased or lease lapsed) to
    /// `owner` until `leaseUntil`; returns their ids.
    func claimJobs(owner: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [JobID]
    /// Extends the lease; false when `owner` no longer holds it.
    func renewLease(_ id: JobID, owner: String, until: Date) async throws -> Bool
    /// Gives the lease up (the job waits for its next attempt, or another instance).
    func releaseLease(_ id: JobID, owner: String) async throws
    /// Gives up every lease `owner` holds. An instance calls it once as it starts, so that jobs its
    /// previous run left mid-step are claimable at once instead of when their leases lapse.
    func releaseLeases(owner: String) async throws
    /// The job with its credential and all secrets, decrypted. Throws ``StoreError/Code/notFound``.
    func rotation(_ id: JobID) async throws -> Rotation
    /// ``rotation(_:)`` for a runner that already holds the job as it committed it: a store may
    /// return `knownJob` instead of decoding the row when the stored revision is the same.
    func rotation(_ id: JobID, knownJob: Job?) async throws -> Rotation
    /// Commits a step's outcome atomically, if `owner` still holds the lease
    /// (``StoreError/Code/leaseLost`` otherwise) and the stored job's revision still equals
    /// `commit.job.revision` (``StoreError/Code/conflict`` otherwise: the API changed the job,
    /// e.g. a cancel). The stored revision is incremented. When the job becomes terminal, the
    /// lease is released in the same transaction.
    func commit(_ commit: RotationCommit, owner: String) async throws

    /// Applies ``Job/requestCancel(at:)`` to the stored job, whoever holds its lease, appends a
    /// `job.cancel_requested` event, and returns the job. Rethrows the transition's
    /// ``JobTransitionError`` (too late to cancel); ``StoreError/Code/notFound`` when absent.
    /// A queued job that ends `cancelled` here returns its credential to `active`.
    func requestCancel(_ id: JobID, at now: Date) async throws -> Job

    /// Calls `observer` with a job's id once a transaction that made it terminal has committed,
    /// by this instance or (for a store shared by several) by any other. `nil` means any job may
    /// have finished unheard (a shared store's notification channel reconnected), so whoever
    /// waits should look again. Waiting requests (`GET /v1/jobs/{id}?wait=`) wake on it instead
    /// of polling the store. Called on whatever thread committed; observers must not block.
    func observeFinishedJobs(_ observer: @escaping @Sendable (JobID?) -> Void)

    /// Calls `observer` with a credential's id once a transaction that may have changed the key
    /// it serves has committed (a job of it moved to another step or state: the pending key is
    /// offered in `verify`, withdrawn by a rollback, made current by `finalize`), by this
    /// instance or any other sharing the store. `nil`: look again at every credential. Long-polls
    /// for keys (`GET …/secret?after_version=`, `GET …/agent/key?known_version=`) wake on it.
    /// Called on whatever thread committed; observers must not block.
    func observeServedKeys(_ observer: @escaping @Sendable (CredentialID?) -> Void)
}

extension Store {
    /// ``updateCredential(_:signingSecrets:ifUnmodifiedSince:)`` without the concurrency check.
    public func updateCredential(_ credential: Credential, signingSecrets: [TargetID: Secret]?) async throws {
        try await self.updateCredential(credential, signingSecrets: signingSecrets, ifUnmodifiedSince: nil)
    }

    /// Decodes the job every time: a store without a cheaper way needs nothing more.
    public func rotation(_ id: JobID, knownJob: Job?) async throws -> Rotation {
        try await self.rotation(id)
    }
}
