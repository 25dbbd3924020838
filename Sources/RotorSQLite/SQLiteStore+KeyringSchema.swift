import GRDB

extension SQLiteStore {
    /// The KEK id of every envelope, as an indexed column, for `rotor keyring` (after "v2-…").
    ///
    /// A virtual generated column reads the id out of the envelope header (DESIGN.md §3, format
    /// in ``Envelope``: byte 5 is the id's length n, 1–64, and the id follows), so every writer
    /// keeps it right without knowing of it, and finding the envelopes under a KEK, or the KEKs
    /// in use, is an index search instead of decrypting every secret. SQLite has no function
    /// from a byte to its value: the length is the byte's position in the blob 0x01…0x40, which
    /// is 0 (an empty id) for a header that is out of range. NULL while the secret is cleared.
    static func registerKeyringMigration(_ migrator: inout DatabaseMigrator) {
        let lengths = (1...64).map { byte in byte < 16 ? "0" + String(byte, radix: 16) : String(byte, radix: 16) }.joined()
        migrator.registerMigration("v3-envelope-kek-ids") { db in
            try db.execute(
                sql: """
                    ALTER TABLE secrets ADD COLUMN kek_id TEXT
                        GENERATED ALWAYS AS (CAST(substr(envelope, 6, instr(X'\(lengths)', substr(envelope, 5, 1))) AS TEXT)) VIRTUAL;
                    CREATE INDEX secrets_by_kek_id ON secrets(kek_id, owner_id, field);
                    """
            )
        }
    }
}
