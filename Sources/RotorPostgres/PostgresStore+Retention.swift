public import Foundation
import PostgresNIO
public import RotorCore

extension PostgresStore {
    /// `v5-retention`: indexes for pruning by age (``RetentionStore``), so that an hourly pass
    /// with nothing to prune reads an index page, not the table.
    static let retentionMigration = Migration(
        version: "v5-retention",
        statements: [
            "CREATE INDEX target_deliveries_by_at ON target_deliveries(at)",
            "CREATE INDEX outbox_events_by_timestamp ON outbox_events(timestamp)",
        ]
    )
}

extension PostgresStore: RetentionStore {
    public func prune(_ kind: RetentionKind, before cutoff: Date, limit: Int) async throws -> Int {
        guard limit > 0 else { return 0 }
        let time = cutoff.timeIntervalSinceReferenceDate
        return try await self.write { tx in
            switch kind {
            case .outbox:
                // Only deliveries that ended; a pending one stays however old it is. SKIP LOCKED:
                // instances pruning at once take different rows.
                let pruned = try await tx.rows(
                    """
                    DELETE FROM outbox_deliveries WHERE (event_id, subscription_id) IN (
                        SELECT event_id, subscription_id FROM outbox_deliveries
                        WHERE state IN ('delivered', 'failed') AND COALESCE(delivered_at, last_attempt_at, created_at) < \(time)
                        LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                    RETURNING event_id
                    """
                ).count
                try await tx.run(
                    """
                    DELETE FROM outbox_events WHERE id IN (
                        SELECT e.id FROM outbox_events e
                        WHERE e.timestamp < \(time) AND NOT EXISTS (SELECT 1 FROM outbox_deliveries d WHERE d.event_id = e.id)
                        LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                    """
                )
                return pruned
            case .hookDeliveries:
                return try await tx.rows(
                    """
                    DELETE FROM hook_deliveries WHERE (trigger_id, delivery_id) IN (
                        SELECT trigger_id, delivery_id FROM hook_deliveries WHERE received_at < \(time)
                        LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                    RETURNING delivery_id
                    """
                ).count
            case .targetDeliveries:
                return try await tx.rows(
                    """
                    DELETE FROM target_deliveries WHERE (job_id, seq) IN (
                        SELECT job_id, seq FROM target_deliveries WHERE at < \(time)
                        LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                    RETURNING seq
                    """
                ).count
            }
        }
    }
}
