import RotorStoreConformance
import Testing

/// ``RetentionStoreConformance`` on PostgreSQL.
@Suite(.postgresConfigured) struct RetentionStoreTests {
    let suite = RetentionStoreConformance()

    @Test("prune removes what ended before the cutoff, in batches of the limit; pending, newer and audit records stay")
    func prune() async throws { try await self.suite.prune(.postgres) }
}
