import RotorStoreConformance
import Testing

/// ``AuditStoreConformance`` on PostgreSQL.
@Suite(.postgresConfigured) struct AuditStoreTests {
    let suite = AuditStoreConformance()

    @Test("a write's pending audit record commits with it, and not at all when the write fails")
    func sameTransaction() async throws { try await self.suite.sameTransaction(.postgres) }

    @Test("tokens: by hash, by id, newest first in pages, deleted for good")
    func tokens() async throws { try await self.suite.tokens(.postgres) }

    @Test("checkpoints: the head signed under the active key, stored once per head, still verifying after a keyring rotation")
    func checkpoints() async throws { try await self.suite.checkpoints(.postgres) }

    @Test("a cut tail the chain alone calls intact is named by the stored checkpoint; a rewritten chain by its hash")
    func cutTail() async throws { try await self.suite.cutTail(.postgres) }

    @Test("a published checkpoint is an audit.checkpoint event for subscriptions that want one")
    func checkpointEvent() async throws { try await self.suite.checkpointEvent(.postgres) }
}
