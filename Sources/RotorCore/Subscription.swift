public import Foundation

/// The events a subscription can ask for (DESIGN.md §4, Event subscriptions).
public enum EventType: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// A job left `queued` and began its first step.
    case jobStarted = "job.started"
    /// A job ended `succeeded`.
    case jobSucceeded = "job.succeeded"
    /// A job ended `rolled_back`.
    case jobRolledBack = "job.rolled_back"
    /// A job ended `failed`: a human must act (the credential is in `attention`).
    case jobFailed = "job.failed"
    /// A job ended `cancelled`.
    case jobCancelled = "job.cancelled"
    /// A credential went to state `attention`.
    case credentialAttention = "credential.attention"
    /// A credential's current key expires at the provider within its schedule's `before_expiry`.
    case credentialExpiring = "credential.expiring"
    /// The server signed a checkpoint of the audit log (``AuditCheckpoint``): kept by the
    /// subscriber, it later proves that no entry at or before it was removed.
    case auditCheckpoint = "audit.checkpoint"

    /// The job event a job reaching `state` reports, if any.
    public static func reporting(_ state: JobState) -> EventType? {
        switch state {
        case .queued: nil
        case .running: .jobStarted
        case .succeeded: .jobSucceeded
        case .rolledBack: .jobRolledBack
        case .failed: .jobFailed
        case .cancelled: .jobCancelled
        }
    }

    public static func < (lhs: EventType, rhs: EventType) -> Bool {
        Self.allCases.firstIndex(of: lhs)! < Self.allCases.firstIndex(of: rhs)!
    }
}

/// A subscriber's endpoint and the events it wants. Its signing secret lives sealed in the store
/// and travels separately as a ``Secret``.
public struct Subscription: Sendable, Hashable {
    /// The id.
    public var id: SubscriptionID
    /// Where events are POSTed: https, or http to a loopback host (``OutboundURL``).
    public var url: String
    /// The events it receives, without duplicates, in ``EventType`` order.
    public var events: [EventType]
    /// Creation time.
    public var createdAt: Date

    /// Creates a subscription; `events` are deduplicated and put in order.
    public init(id: SubscriptionID, url: String, events: [EventType], createdAt: Date) {
        self.id = id
        self.url = url
        self.events = Array(Set(events)).sorted()
        self.createdAt = createdAt
    }
}
