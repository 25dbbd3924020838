public import Foundation
import NIOCore
import PostgresNIO
public import RotorCore
import RotorCrypto
public import RotorStorage

extension PostgresStore {
    /// `v3-envelope-kek-ids`: the KEK id of every envelope, as an indexed column, for
    /// `rotor keyring` (as in the SQLite store).
    ///
    /// A generated column reads the id out of the envelope header (DESIGN.md §3, format in
    /// ``Envelope``: byte 5 is the id's length n, 1–64, and the id follows), so every writer keeps
    /// it right without knowing of it, and finding the envelopes under a KEK is an index search
    /// instead of decrypting every secret. A header out of range gives `''`, like SQLite's; NULL
    /// while the secret is cleared. Ids are ASCII, which `encode(…, 'escape')` keeps as it is.
    static let keyringMigration = Migration(
        version: "v3-envelope-kek-ids",
        statements: [
            """
            ALTER TABLE secrets ADD COLUMN kek_id text GENERATED ALWAYS AS (
                CASE
                    WHEN envelope IS NULL THEN NULL
                    WHEN length(envelope) < 5 THEN ''
                    WHEN get_byte(envelope, 4) BETWEEN 1 AND 64 THEN encode(substring(envelope FROM 6 FOR get_byte(envelope, 4)), 'escape')
                    ELSE ''
                END
            ) STORED
            """,
            "CREATE INDEX secrets_by_kek_id ON secrets(kek_id, owner_id, field)",
        ]
    )
}

/// The envelope work itself (rewrap batches, opening every envelope) is ``EnvelopeStoreDriver``'s.
extension PostgresStore: EnvelopeStoreDriver {
    /// Counts envelopes per KEK from the `kek_id` index; decrypts nothing.
    public func envelopeCountsByKeyID() async throws -> [String: Int] {
        try await self.read { tx in
            var counts: [String: Int] = [:]
            for row in try await tx.rows("SELECT kek_id, COUNT(*) AS n FROM secrets WHERE kek_id IS NOT NULL GROUP BY kek_id") {
                counts[try row.string("kek_id")] = try row.int("n")
            }
            return counts
        }
    }

    public func storedEnvelopes(under keyID: String?, after cursor: EnvelopeCursor?, limit: Int) async throws -> [StoredEnvelope] {
        let after = cursor ?? EnvelopeCursor(owner: "", field: "")
        return try await self.read { tx in
            let rows: [PostgresRandomAccessRow]
            if let keyID {
                rows = try await tx.rows(
                    """
                    SELECT owner_id, field, version, envelope FROM secrets
                    WHERE kek_id = \(keyID) AND (owner_id, field) > (\(after.owner), \(after.field)) ORDER BY owner_id, field LIMIT \(limit)
                    """
                )
            } else {
                rows = try await tx.rows(
                    """
                    SELECT owner_id, field, version, envelope FROM secrets
                    WHERE envelope IS NOT NULL AND (owner_id, field) > (\(after.owner), \(after.field)) ORDER BY owner_id, field LIMIT \(limit)
                    """
                )
            }
            return try rows.map(Self.storedEnvelope)
        }
    }

    public func writeRewraps(_ rewraps: [(stored: StoredEnvelope, new: [UInt8])]) async throws -> Int {
        try await self.write { tx in
            var changed = 0
            for rewrap in rewraps {
                let updated = try await tx.rows(
                    """
                    UPDATE secrets SET envelope = \(ByteBuffer(bytes: rewrap.new))
                    WHERE owner_id = \(rewrap.stored.owner) AND field = \(rewrap.stored.field) AND version = \(rewrap.stored.version)
                      AND envelope = \(ByteBuffer(bytes: rewrap.stored.bytes))
                    RETURNING owner_id
                    """
                )
                if updated.isEmpty { changed += 1 }
            }
            return changed
        }
    }
}

extension PostgresStore {
    static func storedEnvelope(_ row: PostgresRandomAccessRow) throws -> StoredEnvelope {
        try StoredEnvelope(row, bytes: try row.bytes("envelope"))
    }
}
