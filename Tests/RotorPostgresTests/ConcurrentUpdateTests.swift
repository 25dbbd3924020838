import RotorStoreConformance
import Testing

/// ``ConcurrentUpdateConformance`` on PostgreSQL.
@Suite(.postgresConfigured) struct ConcurrentUpdateTests {
    let suite = ConcurrentUpdateConformance()

    @Test("a PATCH-style update made from a stale read is refused; a fresh one goes through")
    func compareAndSet() async throws { try await self.suite.compareAndSet(.postgres) }

    @Test("an engine commit writes what rotations own and keeps labels and schedule patched meanwhile")
    func commitKeepsPatchedFields() async throws { try await self.suite.commitKeepsPatchedFields(.postgres) }
}
