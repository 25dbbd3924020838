import Foundation
import GRDB
public import RotorCore
import RotorCrypto
public import RotorStorage

/// The envelope work itself (rewrap batches, opening every envelope) is ``EnvelopeStoreDriver``'s.
extension SQLiteStore: EnvelopeStoreDriver {
    /// Counts envelopes per KEK from the `kek_id` index ("v3-envelope-kek-ids"); decrypts nothing.
    public func envelopeCountsByKeyID() async throws -> [String: Int] {
        try await self.scans.read { db in
            var counts: [String: Int] = [:]
            let rows = try db.fetchRows("SELECT kek_id, COUNT(*) AS n FROM secrets WHERE kek_id IS NOT NULL GROUP BY kek_id")
            for row in rows {
                counts[try row.decode(String.self, forColumn: "kek_id")] = try row.decode(Int.self, forColumn: "n")
            }
            return counts
        }
    }

    public func storedEnvelopes(under keyID: String?, after cursor: EnvelopeCursor?, limit: Int) async throws -> [StoredEnvelope] {
        var conditions = [keyID == nil ? "envelope IS NOT NULL" : "kek_id = ?"]
        var arguments: StatementArguments = keyID.map { [$0] } ?? []
        if let cursor {
            conditions.append("(owner_id, field) > (?, ?)")
            arguments += [cursor.owner, cursor.field]
        }
        arguments += [limit]
        let bound = arguments
        let sql = "SELECT owner_id, field, version, envelope FROM secrets WHERE \(conditions.joined(separator: " AND ")) ORDER BY owner_id, field LIMIT ?"
        return try await self.scans.read { db in
            try db.fetchAll(sql, arguments: bound, as: Self.storedEnvelope)
        }
    }

    public func writeRewraps(_ rewraps: [(stored: StoredEnvelope, new: [UInt8])]) async throws -> Int {
        try await self.writer.write { db in
            var changed = 0
            for rewrap in rewraps {
                try db.execute(
                    sql: "UPDATE secrets SET envelope = ? WHERE owner_id = ? AND field = ? AND version = ? AND envelope = ?",
                    arguments: [Data(rewrap.new), rewrap.stored.owner, rewrap.stored.field, rewrap.stored.version, Data(rewrap.stored.bytes)])
                if db.changesCount == 0 { changed += 1 }
            }
            return changed
        }
    }
}

extension SQLiteStore {
    static func storedEnvelope(_ row: StatementRow) throws -> StoredEnvelope {
        try StoredEnvelope(row, bytes: try row.bytes("envelope"))
    }
}
