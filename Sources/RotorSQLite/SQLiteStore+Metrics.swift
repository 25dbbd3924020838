import GRDB
public import RotorCore

extension SQLiteStore: MetricsStore {
    public func jobCounts() async throws -> [JobCount] {
        try await self.scans.read { db in
            var counts: [JobCount] = []
            // Active jobs are few and reached through the partial index; finished ones are
            // counted from the `jobs_runnable` index alone (state first), without the table.
            let active = try db.fetchRows("SELECT state, step, COUNT(*) AS n FROM jobs WHERE state IN ('queued', 'running') GROUP BY state, step"
            )
            for row in active {
                guard let state = JobState(rawValue: try row.string("state")), let step = JobStep(rawValue: try row.string("step")) else { continue }
                counts.append(JobCount(state: state, step: step, count: try row.int("n")))
            }
            let finished = try db.fetchRows("SELECT state, COUNT(*) AS n FROM jobs WHERE state NOT IN ('queued', 'running') GROUP BY state"
            )
            for row in finished {
                guard let state = JobState(rawValue: try row.string("state")) else { continue }
                counts.append(JobCount(state: state, step: nil, count: try row.int("n")))
            }
            return counts
        }
    }

    public func pendingDeliveryCount() async throws -> Int {
        try await self.scans.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox_deliveries WHERE state = ?", arguments: [DeliveryState.pending.rawValue]) ?? 0
        }
    }
}
