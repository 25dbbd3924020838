public import Foundation

/// What the scheduler needs from the store (DESIGN.md §4, `schedule`). Kept apart from ``Store``
/// so that stores grow by concern.
///
/// A credential's `next_rotation_at` is the scheduler's durable cursor: a scheduled job is
/// created in the same transaction that moves it on, so a restart (or a second instance) never
/// starts the same due rotation twice.
public protocol ScheduleStore: Sendable {
    /// Active credentials whose `next_rotation_at` is at or before `now`, earliest first.
    func credentialsDueForRotation(at now: Date, limit: Int) async throws -> [Credential]

    /// The earliest `next_rotation_at` of any active credential, or nil when none is scheduled.
    func earliestScheduledRotation() async throws -> Date?

    /// In one transaction: if the credential is still `active` and its `next_rotation_at` still
    /// equals `dueAt`, stores `job` with the old key and targets of the credential as read under
    /// that check (queued, credential `rotating`, like
    /// ``Store/createJob(_:idempotencyKey:requestFingerprint:events:)``) and sets
    /// `next_rotation_at` to `retryAt`, when the scheduler tries again should this job not
    /// succeed (a success computes it afresh from the schedule). Returns nil, changing nothing,
    /// when the credential moved on meanwhile or already has an active job.
    func startScheduledRotation(_ job: NewJob, dueAt: Date, retryAt: Date, events: [JobEvent]) async throws -> Job?
}
