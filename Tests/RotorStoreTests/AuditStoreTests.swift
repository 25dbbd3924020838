import Foundation
import GRDB
import RotorCore
import RotorStore
import Testing

/// The audit log and the token table of ``SQLiteStore``.
@Suite struct AuditStoreTests {
    private static func record(_ action: String, _ resource: String = "res_1") -> AuditRecord {
        AuditRecord(at: Sample.t0, actor: "tok_test", action: action, resource: resource)
    }

    @Test("a write's pending audit record commits with it, and not at all when the write fails", arguments: StoreKind.all)
    func sameTransaction(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = Sample.credential(name: "one")
            try await Audit.$actor.withValue("tok_writer") {
                try await Audit.recording("credential.create", credential.id.rawValue, at: Sample.t0) {
                    try await store.createCredential(credential, secrets: Sample.secrets(for: credential))
                }
                // Same name: refused, and so is its audit entry.
                let clash = Sample.credential(name: "one")
                await #expect(throws: StoreError.self) {
                    try await Audit.recording("credential.create", clash.id.rawValue, at: Sample.t0) {
                        try await store.createCredential(clash, secrets: Sample.secrets(for: clash))
                    }
                }
            }
            // Without a pending record, a write appends nothing.
            try await store.updateCredential(credential, signingSecrets: nil)
            let page = try await store.auditEntries(PageRequest(limit: 10))
            #expect(page.items.count == 1)
            let entry = try #require(page.items.first)
            #expect(entry.seq == 1)
            #expect(entry.record.actor == "tok_writer")
            #expect(entry.record.action == "credential.create")
            #expect(entry.record.resource == credential.id.rawValue)
            #expect(entry.record.outcome == "success")
            #expect(try await store.verifyAuditChain() == .intact(count: 1))
        }
    }

    @Test("entries page oldest first; the chain verifies, and an edited or deleted row is named")
    func chain() async throws {
        let fixture = try SQLiteFixture()
        defer { fixture.cleanup() }
        for index in 1...5 {
            try await fixture.store.appendAudit(Self.record("secret.read", "cred_\(index)"))
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

    @Test("tokens: by hash, by id, newest first in pages, deleted for good", arguments: StoreKind.all)
    func tokens(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            var made: [APIToken] = []
            for index in 0..<3 {
                let token = APIToken(
                    id: .generate(), name: "t\(index)", scopes: [.jobsRead, .secretsRead],
                    credentialIDs: index == 0 ? [CredentialID.generate()] : nil,
                    expiresAt: index == 1 ? Sample.t0.addingTimeInterval(60) : nil,
                    createdAt: Sample.t0.addingTimeInterval(Double(index))
                )
                try await store.createToken(token, sha256: String(repeating: "\(index)", count: 64))
                made.append(token)
            }
            #expect(try await store.token(sha256: String(repeating: "1", count: 64)) == made[1])
            #expect(try await store.token(sha256: String(repeating: "9", count: 64)) == nil)
            #expect(try await store.token(made[0].id) == made[0])
            let page = try await store.tokens(PageRequest(limit: 2))
            #expect(page.items.map(\.id) == [made[2].id, made[1].id])
            let rest = try await store.tokens(PageRequest(limit: 2, cursor: page.nextCursor))
            #expect(rest.items.map(\.id) == [made[0].id])
            try await store.deleteToken(made[1].id)
            #expect(try await store.token(sha256: String(repeating: "1", count: 64)) == nil)
            await #expect(throws: StoreError.self) { try await store.deleteToken(made[1].id) }
        }
    }
}
