public import Foundation
import GRDB
public import RotorCore
import RotorStorage

extension SQLiteStore {
    /// `v5-retention`: indexes for pruning by age (``RetentionStore``), so that an hourly pass
    /// with nothing to prune reads an index page, not the table.
    static func registerRetentionMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v5-retention") { db in
            try db.execute(
                sql: """
                    CREATE INDEX target_deliveries_by_at ON target_deliveries(at);
                    CREATE INDEX outbox_events_by_timestamp ON outbox_events(timestamp);
                    """
            )
        }
    }
}

extension SQLiteStore: RetentionStore {
    public func prune(_ kind: RetentionKind, before cutoff: Date, limit: Int) async throws -> Int {
        guard limit > 0 else { return 0 }
        let time = RowCoding.time(cutoff)
        return try await self.writer.write { db in
            switch kind {
            case .outbox:
                // Only deliveries that ended; a pending one stays however old it is.
                try db.execute(
                    sql: """
                        DELETE FROM outbox_deliveries WHERE rowid IN (
                            SELECT rowid FROM outbox_deliveries
                            WHERE state IN ('delivered', 'failed') AND COALESCE(delivered_at, last_attempt_at, created_at) < ?
                            LIMIT ?)
                        """,
                    arguments: [time, limit]
                )
                let pruned = db.changesCount
                try db.execute(
                    sql: """
                        DELETE FROM outbox_events WHERE id IN (
                            SELECT e.id FROM outbox_events e
                            WHERE e.timestamp < ? AND NOT EXISTS (SELECT 1 FROM outbox_deliveries d WHERE d.event_id = e.id)
                            LIMIT ?)
                        """,
                    arguments: [time, limit]
                )
                return pruned
            case .hookDeliveries:
                try db.execute(
                    sql: "DELETE FROM hook_deliveries WHERE rowid IN (SELECT rowid FROM hook_deliveries WHERE received_at < ? LIMIT ?)",
                    arguments: [time, limit]
                )
                return db.changesCount
            case .targetDeliveries:
                try db.execute(
                    sql: "DELETE FROM target_deliveries WHERE rowid IN (SELECT rowid FROM target_deliveries WHERE at < ? LIMIT ?)",
                    arguments: [time, limit]
                )
                return db.changesCount
            }
        }
    }
}
