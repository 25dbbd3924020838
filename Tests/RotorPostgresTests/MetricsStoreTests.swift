import RotorStoreConformance
import Testing

/// ``MetricsStoreConformance`` on PostgreSQL.
@Suite(.postgresConfigured) struct MetricsStoreTests {
    let suite = MetricsStoreConformance()

    @Test("job counts: active jobs by state and step, finished ones by state only")
    func jobCounts() async throws { try await self.suite.jobCounts(.postgres) }

    @Test("the outbox backlog counts pending deliveries only")
    func pendingDeliveries() async throws { try await self.suite.pendingDeliveries(.postgres) }
}
