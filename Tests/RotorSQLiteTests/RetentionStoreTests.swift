import RotorStoreConformance
import Testing

/// ``RetentionStoreConformance`` on SQLite.
@Suite struct RetentionStoreTests {
    let suite = RetentionStoreConformance()

    @Test("prune removes what ended before the cutoff, in batches of the limit; pending, newer and audit records stay")
    func prune() async throws { try await self.suite.prune(.sqlite) }
}
