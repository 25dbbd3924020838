public import Foundation

/// How the scheduler looks for due rotations.
public struct SchedulerConfiguration: Sendable {
    /// The longest the scheduler sleeps between looks (it also wakes at the earliest due time it
    /// knows of); a schedule changed through the API is noticed within this.
    public var pollInterval: TimeInterval
    /// When a scheduled rotation that did not succeed is tried again.
    public var retryInterval: TimeInterval
    /// Rotations started per look, at most.
    public var batchSize: Int

    /// The defaults: look every 30 s, retry after 1 h, 100 per look.
    public init(pollInterval: TimeInterval = 30, retryInterval: TimeInterval = 3600, batchSize: Int = 100) {
        self.pollInterval = max(0.01, pollInterval)
        self.retryInterval = max(1, retryInterval)
        self.batchSize = max(1, batchSize)
    }
}
