public import Foundation

/// One HTTP attempt at a target within a job: a delivery of a target event or a check of its
/// `verify_url` (`GET /v1/jobs/{id}/deliveries`). Never carries the payload or a secret.
public struct TargetDeliveryRecord: Sendable, Hashable, Codable {
    /// Position in the job's delivery log, from 1; assigned by the store.
    public var seq: Int
    /// The job.
    public var jobID: JobID
    /// The target.
    public var targetID: TargetID
    /// `key.pending`, `key.rolled_back`, `key.revoked`, or `verify` for a `verify_url` check.
    public var eventType: String
    /// The attempt's number for this target and event type within the step, from 1.
    public var attempt: Int
    /// The HTTP status answered, or nil when there was no answer.
    public var statusCode: Int?
    /// How long the attempt took, in milliseconds.
    public var durationMs: Int
    /// Why it failed; nil on success.
    public var error: String?
    /// When it started.
    public var at: Date

    /// Creates a record; `seq` is ignored on write and assigned by the store.
    public init(
        seq: Int = 0,
        jobID: JobID,
        targetID: TargetID,
        eventType: String,
        attempt: Int,
        statusCode: Int?,
        durationMs: Int,
        error: String?,
        at: Date
    ) {
        self.seq = seq
        self.jobID = jobID
        self.targetID = targetID
        self.eventType = eventType
        self.attempt = attempt
        self.statusCode = statusCode
        self.durationMs = durationMs
        self.error = error
        self.at = at
    }

    enum CodingKeys: String, CodingKey {
        case seq
        case jobID = "job_id"
        case targetID = "target_id"
        case eventType = "event_type"
        case attempt
        case statusCode = "status_code"
        case durationMs = "duration_ms"
        case error, at
    }

    /// Every member, `status_code` and `error` as null when unset (the API's convention).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.seq, forKey: .seq)
        try container.encode(self.jobID, forKey: .jobID)
        try container.encode(self.targetID, forKey: .targetID)
        try container.encode(self.eventType, forKey: .eventType)
        try container.encode(self.attempt, forKey: .attempt)
        try container.encode(self.statusCode, forKey: .statusCode)
        try container.encode(self.durationMs, forKey: .durationMs)
        try container.encode(self.error, forKey: .error)
        try container.encode(self.at, forKey: .at)
    }
}

/// The per-target delivery log, apart from ``Store`` so that stores grow by concern.
public protocol TargetDeliveryLog: Sendable {
    /// Appends one attempt's record. Written as the attempt ends, not with the step's commit, so
    /// that operators see retries while a step is still backing off.
    func recordDelivery(_ record: TargetDeliveryRecord) async throws
    /// The job's records in order, in pages (the cursor is opaque).
    func deliveries(_ job: JobID, _ page: PageRequest) async throws -> Page<TargetDeliveryRecord>
}
