public import Foundation

/// The records retention prunes: what only explains the past. The audit log is never among
/// them; nor is anything a job, a delivery or a replay check still needs.
public enum RetentionKind: String, Sendable, Hashable, CaseIterable {
    /// Subscription deliveries that ended (`delivered`, or `failed` for good), and their events
    /// once no delivery of them is left. Pending deliveries stay, however old.
    case outbox
    /// The replay-protection records of `POST /v1/hooks/{id}`; never inside their 24 h window.
    case hookDeliveries = "hook_deliveries"
    /// The per-attempt log of deliveries to targets (`GET /v1/jobs/{id}` target history).
    case targetDeliveries = "target_deliveries"
}

/// How long pruned records are kept (`ROTOR_RETENTION`) and how many go per transaction.
public struct RetentionPolicy: Sendable, Hashable {
    /// How long a hook delivery must be kept to answer a replay with the first result (DESIGN.md §4).
    public static let hookReplayWindow: TimeInterval = 86_400

    /// Records older than this are pruned. Default 30 days.
    public var age: TimeInterval
    /// Rows deleted per transaction, so a large backlog never holds the store for long.
    public var batchSize: Int

    /// Creates a policy; `batchSize` is at least 1.
    public init(age: TimeInterval = 30 * 86_400, batchSize: Int = 500) {
        self.age = age
        self.batchSize = max(1, batchSize)
    }

    /// Records of `kind` from before this time are pruned at `now`. Hook deliveries are kept at
    /// least for their replay window, whatever the configured age.
    public func cutoff(for kind: RetentionKind, now: Date) -> Date {
        let age = kind == .hookDeliveries ? max(self.age, Self.hookReplayWindow) : self.age
        return now.addingTimeInterval(-age)
    }
}

/// Pruning of the records ``RetentionKind`` names. Kept apart from ``Store`` so that stores grow
/// by concern.
public protocol RetentionStore: Sendable {
    /// Deletes, in one transaction, at most `limit` records of `kind` from before `cutoff`
    /// (by when they ended: delivery, last attempt, receipt) and returns how many. Outbox events
    /// left without deliveries go with the last of them and are not counted.
    func prune(_ kind: RetentionKind, before cutoff: Date, limit: Int) async throws -> Int
}
