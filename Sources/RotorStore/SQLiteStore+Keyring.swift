public import Foundation
import GRDB
public import RotorCore
import RotorCrypto
import RotorStorage

extension SQLiteStore: EnvelopeKeyStore {
    /// The keyring's active KEK id.
    public var activeEnvelopeKeyID: String { self.keyring.activeKeyID }

    /// The keyring's KEK ids.
    public var envelopeKeyIDs: [String] { self.keyring.keyIDs }

    /// Counts envelopes per KEK from the `kek_id` index ("v3-envelope-kek-ids"); decrypts nothing.
    public func envelopeCountsByKeyID() async throws -> [String: Int] {
        try await self.reads.read { db in
            var counts: [String: Int] = [:]
            let rows = try Row.fetchAll(db, sql: "SELECT kek_id, COUNT(*) AS n FROM secrets WHERE kek_id IS NOT NULL GROUP BY kek_id")
            for row in rows {
                counts[try row.decode(String.self, forColumn: "kek_id")] = try row.decode(Int.self, forColumn: "n")
            }
            return counts
        }
    }

    /// Reads a batch on a reader and re-wraps it there, then writes back each envelope with a
    /// compare-and-set in one short write, so the writer lock is held for the UPDATEs only.
    public func rewrapEnvelopes(under keyID: String, after cursor: EnvelopeCursor?, limit: Int) async throws -> EnvelopeRewrapBatch {
        try await self.rewrapEnvelopes(under: keyID, after: cursor, limit: limit, beforeWrite: {})
    }

    /// ``rewrapEnvelopes(under:after:limit:)`` with `beforeWrite` run between the read and the
    /// write, so tests can change a secret in that window.
    package func rewrapEnvelopes(
        under keyID: String,
        after cursor: EnvelopeCursor?,
        limit: Int,
        beforeWrite: @Sendable () async throws -> Void
    ) async throws -> EnvelopeRewrapBatch {
        precondition(limit > 0)
        let keyring = self.keyring
        guard keyID != keyring.activeKeyID else {
            return EnvelopeRewrapBatch(rewrapped: 0, changedConcurrently: 0, failures: [], next: nil)
        }
        let rows = try await self.reads.read { db in
            let rows: [Row]
            if let cursor {
                rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT owner_id, field, version, envelope FROM secrets
                        WHERE kek_id = ? AND (owner_id, field) > (?, ?) ORDER BY owner_id, field LIMIT ?
                        """,
                    arguments: [keyID, cursor.owner, cursor.field, limit])
            } else {
                rows = try Row.fetchAll(
                    db, sql: "SELECT owner_id, field, version, envelope FROM secrets WHERE kek_id = ? ORDER BY owner_id, field LIMIT ?",
                    arguments: [keyID, limit])
            }
            return try rows.map(Self.storedEnvelope)
        }
        // Re-wrapped outside any transaction; the writer is held for the UPDATEs only.
        let plan = EnvelopeRewrapPlan(rows, limit: limit, keyring: keyring)
        try await beforeWrite()
        var changed = 0
        if !plan.rewraps.isEmpty {
            changed = try await self.writer.write { db in
                var changed = 0
                for rewrap in plan.rewraps {
                    // Only the exact bytes that were re-wrapped are replaced: a secret rotated,
                    // cleared or re-sealed meanwhile keeps its newer value.
                    try db.execute(
                        sql: "UPDATE secrets SET envelope = ? WHERE owner_id = ? AND field = ? AND version = ? AND envelope = ?",
                        arguments: [Data(rewrap.new), rewrap.stored.owner, rewrap.stored.field, rewrap.stored.version, Data(rewrap.stored.bytes)])
                    if db.changesCount == 0 { changed += 1 }
                }
                return changed
            }
        }
        return plan.result(changedConcurrently: changed)
    }

    /// Opens every envelope, a page at a time in (owner, field) order on the reader pool.
    public func verifyEnvelopes() async throws -> EnvelopeVerification {
        let keyring = self.keyring
        var result = EnvelopeVerification(opened: 0, failures: [])
        var cursor = EnvelopeCursor(owner: "", field: "")
        while true {
            let after = cursor
            let rows = try await self.reads.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT owner_id, field, version, envelope FROM secrets
                        WHERE envelope IS NOT NULL AND (owner_id, field) > (?, ?) ORDER BY owner_id, field LIMIT 500
                        """,
                    arguments: [after.owner, after.field]
                ).map(Self.storedEnvelope)
            }
            let check = EnvelopeCheck(rows, keyring: keyring)
            result.opened += check.opened
            result.failures += check.failures
            guard let last = rows.last else { return result }
            cursor = EnvelopeCursor(owner: last.owner, field: last.field)
        }
    }
}

extension SQLiteStore {
    static func storedEnvelope(_ row: Row) throws -> StoredEnvelope {
        try StoredEnvelope(row, bytes: Array(try row.decode(Data.self, forColumn: "envelope")))
    }
}
