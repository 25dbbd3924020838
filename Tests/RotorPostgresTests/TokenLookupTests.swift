import RotorStoreConformance
import Testing

/// ``TokenLookupConformance`` on PostgreSQL.
@Suite(.postgresConfigured) struct TokenLookupTests {
    let suite = TokenLookupConformance()

    @Test("a token looked up, then deleted, is not found on the next lookup")
    func deletedAfterLookup() async throws { try await self.suite.deletedAfterLookup(.postgres) }
}
