public import CoreMetrics
public import Foundation
public import Logging
public import RotorCore
public import ServiceLifecycle

/// Prunes what only explains the past (``RetentionKind``) once it is older than the policy's
/// age: once at start, then every `interval`. Each transaction deletes one batch, so a large
/// backlog is worked off in short writes that never hold the store for long. The audit log is
/// never pruned.
public actor RetentionService: Service {
    /// `rotor_retention_pruned_rows_total{kind}`: rows pruned.
    public static let prunedRowsLabel = "rotor_retention_pruned_rows_total"

    private let store: any RetentionStore
    private let clock: any RotorClock
    private let policy: RetentionPolicy
    private let interval: TimeInterval
    private let pruned: [RetentionKind: Counter]
    private let logger: Logger

    /// Creates the service.
    public init(
        store: any RetentionStore,
        clock: any RotorClock = SystemClock(),
        policy: RetentionPolicy = RetentionPolicy(),
        interval: TimeInterval = 3600,
        metrics: any MetricsFactory = MetricsSystem.factory,
        logger: Logger
    ) {
        self.store = store
        self.clock = clock
        self.policy = policy
        self.interval = interval
        var pruned: [RetentionKind: Counter] = [:]
        for kind in RetentionKind.allCases {
            pruned[kind] = Counter(label: Self.prunedRowsLabel, dimensions: [("kind", kind.rawValue)], factory: metrics)
        }
        self.pruned = pruned
        self.logger = logger
    }

    /// Prunes now, then after every interval on the clock, until graceful shutdown or cancellation.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.prune()
                try await self.clock.sleep(until: self.clock.now().addingTimeInterval(self.interval))
            }
        }
    }

    /// Prunes every kind down to the policy's age, batch by batch; returns the rows pruned per kind.
    @discardableResult
    public func prune() async -> [RetentionKind: Int] {
        let now = self.clock.now()
        var total: [RetentionKind: Int] = [:]
        for kind in RetentionKind.allCases {
            let cutoff = self.policy.cutoff(for: kind, now: now)
            var count = 0
            do {
                while !Task.isCancelled {
                    let batch = try await self.store.prune(kind, before: cutoff, limit: self.policy.batchSize)
                    count += batch
                    if batch > 0 { self.pruned[kind]?.increment(by: Int64(batch)) }
                    if batch < self.policy.batchSize { break }
                }
            } catch {
                self.logger.error("pruning old records failed", metadata: ["kind": "\(kind.rawValue)", "error": "\(error)"])
            }
            total[kind] = count
            if count > 0 {
                self.logger.info("pruned old records", metadata: ["kind": "\(kind.rawValue)", "rows": "\(count)"])
            }
        }
        return total
    }
}
