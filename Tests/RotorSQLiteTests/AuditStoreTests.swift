import Foundation
import GRDB
import RotorCore
import RotorCrypto
import RotorSQLite
import RotorStoreConformance
import Testing

/// ``AuditStoreConformance`` on SQLite.
@Suite struct AuditStoreTests {
    let suite = AuditStoreConformance()

    @Test("a write's pending audit record commits with it, and not at all when the write fails")
    func sameTransaction() async throws { try await self.suite.sameTransaction(.sqlite) }

    @Test("tokens: by hash, by id, newest first in pages, deleted for good")
    func tokens() async throws { try await self.suite.tokens(.sqlite) }

    @Test("checkpoints: the head signed under the active key, stored once per head, still verifying after a keyring rotation")
    func checkpoints() async throws { try await self.suite.checkpoints(.sqlite) }

    @Test("a cut tail the chain alone calls intact is named by the stored checkpoint; a rewritten chain by its hash")
    func cutTail() async throws { try await self.suite.cutTail(.sqlite) }

    @Test("a published checkpoint is an audit.checkpoint event for subscriptions that want one")
    func checkpointEvent() async throws { try await self.suite.checkpointEvent(.sqlite) }

    @Test("entries page oldest first; the chain verifies, and an edited or deleted row is named")
    func chain() async throws {
        let fixture = try await SQLiteFixture.opened()
        defer { fixture.cleanup() }
        for index in 1...5 {
            try await fixture.store.appendAudit(AuditStoreConformance.record("secret.read", "cred_\(index)"))
        }
        let first = try await fixture.store.auditEntries(PageRequest(limit: 2))
        #expect(first.items.map(\.seq) == [1, 2])
        let second = try await fixture.store.auditEntries(PageRequest(limit: 2, cursor: first.nextCursor))
        #expect(second.items.map(\.seq) == [3, 4])
        let last = try await fixture.store.auditEntries(PageRequest(limit: 2, cursor: second.nextCursor))
        #expect(last.items.map(\.seq) == [5])
        #expect(last.nextCursor == nil)
        #expect(Set((first.items + second.items + last.items).map(\.hash)).count == 5)
        #expect(try await fixture.store.verifyAuditChain() == .intact(count: 5))
        #expect(try SQLiteStore.verifyAuditChain(databaseAt: fixture.path) == .intact(count: 5))

        let queue = try DatabaseQueue(path: fixture.path)
        try await queue.write { db in try db.execute(sql: "UPDATE audit_log SET resource = 'cred_other' WHERE seq = 3") }
        guard case .broken(let seq, _) = try await fixture.store.verifyAuditChain() else {
            Issue.record("an edited entry went unnoticed")
            return
        }
        #expect(seq == 3)

        // Recomputing the edited row's own hash does not help: the next entry covers it.
        try await queue.write { db in try db.execute(sql: "UPDATE audit_log SET resource = 'cred_3' WHERE seq = 3") }
        #expect(try await fixture.store.verifyAuditChain() == .intact(count: 5))
        try await queue.write { db in try db.execute(sql: "DELETE FROM audit_log WHERE seq = 4") }
        guard case .broken(let missing, _) = try SQLiteStore.verifyAuditChain(databaseAt: fixture.path) else {
            Issue.record("a deleted entry went unnoticed")
            return
        }
        #expect(missing == 5)
    }
}
