import Foundation
import GRDB
package import RotorCore
import RotorCrypto
import RotorSQLite
import Testing

/// The audit log (pending records commit with their write; signed checkpoints) and the token
/// table, in every store.
package struct AuditStoreConformance: Sendable {
    package init() {}

    package static func record(_ action: String, _ resource: String = "res_1") -> AuditRecord {
        AuditRecord(at: Sample.t0, actor: "tok_test", action: action, resource: resource)
    }

    package func sameTransaction(_ kind: StoreKind) async throws {
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


    package func tokens(_ kind: StoreKind) async throws {
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

    private static func macVerifies(_ checkpoint: AuditCheckpoint, _ keyring: Keyring) throws -> Bool {
        try keyring.derivedAuthenticationCode(keyID: checkpoint.keyID, purpose: AuditCheckpoint.macPurpose, message: checkpoint.signedBytes)
            .hexString == checkpoint.mac
    }

    package func checkpoints(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            #expect(try await store.auditCheckpoint(at: Sample.t0) == nil)
            #expect(try await store.publishAuditCheckpoint(at: Sample.t0) == nil)
            for index in 1...3 {
                try await store.appendAudit(Self.record("secret.read", "cred_\(index)"))
            }
            let head = try #require(try await store.auditEntries(PageRequest(limit: 10)).items.last)
            let published = try #require(try await store.publishAuditCheckpoint(at: Sample.t0))
            #expect(published.seq == 3)
            #expect(published.hash == head.hash)
            #expect(published.keyID == subject.keyring.activeKeyID)
            #expect(published.signedAt == AuditCheckpoint.time(Sample.t0))
            #expect(try Self.macVerifies(published, subject.keyring))
            // Not the KEK used directly, nor any other purpose's key.
            let other = try subject.keyring.derivedAuthenticationCode(
                keyID: published.keyID, purpose: "something else", message: published.signedBytes)
            #expect(other.hexString != published.mac)
            // The same head again: nothing new, from this instance or another one.
            #expect(try await store.publishAuditCheckpoint(at: Sample.t0.addingTimeInterval(60)) == nil)
            let second = try await subject.reopen(subject.keyring)
            #expect(try await second.publishAuditCheckpoint(at: Sample.t0.addingTimeInterval(61)) == nil)
            #expect(try await store.latestAuditCheckpoint() == published)
            // The API's checkpoint is signed fresh, and not stored.
            let fresh = try #require(try await store.auditCheckpoint(at: Sample.t0.addingTimeInterval(5)))
            #expect(fresh.seq == 3 && fresh.hash == head.hash && fresh.signedAt == AuditCheckpoint.time(Sample.t0.addingTimeInterval(5)))
            #expect(try Self.macVerifies(fresh, subject.keyring))
            #expect(try await store.latestAuditCheckpoint() == published)

            // After a rotation the new key signs; the old checkpoint verifies while its key is in the ring.
            let rotated = try subject.keyring.adding(Keyring.generateKey(id: "kek-new"), makeActive: true)
            let restarted = try await subject.reopen(rotated)
            try await restarted.appendAudit(Self.record("secret.read", "cred_4"))
            let next = try #require(try await restarted.publishAuditCheckpoint(at: Sample.t0.addingTimeInterval(3600)))
            #expect(next.seq == 4 && next.keyID == "kek-new")
            #expect(try Self.macVerifies(next, rotated))
            #expect(try Self.macVerifies(published, rotated))
            #expect(try await restarted.verifyAuditChain() == .intact(count: 4))
        }
    }

    package func cutTail(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            for index in 1...5 {
                try await store.appendAudit(Self.record("secret.read", "cred_\(index)"))
            }
            _ = try #require(try await store.publishAuditCheckpoint(at: Sample.t0))
            #expect(try await store.verifyAuditChain() == .intact(count: 5))

            try await subject.execute("DELETE FROM audit_log WHERE seq >= 4")
            guard case .broken(let seq, let reason) = try await store.verifyAuditChain() else {
                Issue.record("a cut tail went unnoticed")
                return
            }
            #expect(seq == 4)
            #expect(reason.contains("entries 4 to 5 were removed"), "\(reason)")

            // Entries appended after the cut (the chain is unkeyed: anyone can extend it) reach the
            // checkpoint's seq again, but not its hash.
            try await store.appendAudit(Self.record("secret.read", "forged_4"))
            try await store.appendAudit(Self.record("secret.read", "forged_5"))
            guard case .broken(let rewritten, let why) = try await store.verifyAuditChain() else {
                Issue.record("a rewritten tail went unnoticed")
                return
            }
            #expect(rewritten == 5)
            #expect(why.contains("removed or altered"), "\(why)")

            // Without the stored checkpoint the database alone cannot tell: that is why
            // checkpoints are shipped off the box (`rotor audit verify --checkpoint`).
            try await subject.execute("DELETE FROM audit_checkpoints")
            #expect(try await store.verifyAuditChain() == .intact(count: 5))
        }
    }

    package func checkpointEvent(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            try await store.appendAudit(Self.record("secret.read"))
            try await store.createSubscription(
                Subscription(id: .generate(), url: "https://example.com/audit", events: [.auditCheckpoint], createdAt: Sample.t0),
                signingSecret: Secret(WebhookSecret.generate().encoded))
            let checkpoint = try #require(try await store.publishAuditCheckpoint(at: Sample.t0))
            let claimed = try await store.claimDeliveries(owner: "test", now: Sample.t0, leaseUntil: Sample.t0.addingTimeInterval(60), limit: 10)
            #expect(claimed.count == 1)
            let event = try #require(claimed.first?.event)
            #expect(event.type == .auditCheckpoint)
            let payload = try #require(try JSONSerialization.jsonObject(with: Data(event.payload)) as? [String: Any])
            let data = try #require(payload["data"] as? [String: Any])
            #expect(data["seq"] as? Int == checkpoint.seq)
            #expect(data["mac"] as? String == checkpoint.mac)
            #expect(data["signed_at"] as? String == checkpoint.signedAt)
        }
    }
}
