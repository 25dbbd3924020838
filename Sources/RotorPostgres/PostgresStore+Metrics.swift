import PostgresNIO
public import RotorCore

extension PostgresStore: MetricsStore {
    public func jobCounts() async throws -> [JobCount] {
        try await self.read { tx in
            var counts: [JobCount] = []
            // Active jobs by step too, through the `jobs_runnable` partial index; finished ones by
            // state only, as the SQLite store counts them.
            for row in try await tx.rows(
                "SELECT state, step, COUNT(*) AS n FROM jobs WHERE state IN ('queued', 'running') GROUP BY state, step"
            ) {
                guard let state = JobState(rawValue: try row.string("state")), let step = JobStep(rawValue: try row.string("step")) else {
                    continue
                }
                counts.append(JobCount(state: state, step: step, count: try row.int("n")))
            }
            for row in try await tx.rows("SELECT state, COUNT(*) AS n FROM jobs WHERE state NOT IN ('queued', 'running') GROUP BY state") {
                guard let state = JobState(rawValue: try row.string("state")) else { continue }
                counts.append(JobCount(state: state, step: nil, count: try row.int("n")))
            }
            return counts
        }
    }

    public func pendingDeliveryCount() async throws -> Int {
        try await self.read { tx in
            try await tx.rows("SELECT COUNT(*) AS n FROM outbox_deliveries WHERE state = \(DeliveryState.pending.rawValue)").first?.int("n") ?? 0
        }
    }
}
