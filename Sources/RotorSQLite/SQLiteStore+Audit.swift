public import Foundation
import GRDB
public import RotorCore
import RotorCrypto
import RotorStorage

extension SQLiteStore: AuditStore {
    public func appendAudit(_ record: AuditRecord) async throws {
        try await self.writer.write { db in try Self.appendAudit(db, record) }
    }

    public func auditEntries(_ page: PageRequest) async throws -> Page<AuditEntry> {
        let after = try page.cursor.map(PageCursor.decodeSequence) ?? 0
        return try await self.scans.read { db in
            let rows = try Row.fetchAll(
                cached: db, sql: "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [after, page.limit + 1]
            ).map(Self.auditEntry(from:))
            return Page(rows, limit: page.limit) { PageCursor.encode(sequence: $0.seq) }
        }
    }

    public func verifyAuditChain() async throws -> AuditVerification {
        try await self.scans.read { db in try Self.verifyAuditChain(db, checkpoints: []) }
    }

    public func auditCheckpoint(at now: Date) async throws -> AuditCheckpoint? {
        let head = try await self.reads.read { db in try Self.auditHead(db) }
        return try head.map { try AuditChain.signCheckpoint(seq: $0.seq, hash: $0.hash, at: now, keyring: self.keyring) }
    }

    public func publishAuditCheckpoint(at now: Date) async throws -> AuditCheckpoint? {
        // Not a write anyone asked for: the caller's pending audit record is not this one's.
        try await Audit.$pending.withValue(nil) {
            try await self.writer.write { db in
                guard let head = try Self.auditHead(db) else { return nil }
                let checkpoint = try AuditChain.signCheckpoint(seq: head.seq, hash: head.hash, at: now, keyring: self.keyring)
                try db.run(
                    sql: "INSERT INTO audit_checkpoints (seq, hash, signed_at, key_id, mac) VALUES (?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING",
                    arguments: [checkpoint.seq, checkpoint.hash, checkpoint.signedAt, checkpoint.keyID, checkpoint.mac]
                )
                guard db.changesCount > 0 else { return nil }
                try self.enqueue(db, [OutboxEvent.checkpoint(checkpoint, at: now)], at: now)
                return checkpoint
            }
        }
    }

    public func latestAuditCheckpoint() async throws -> AuditCheckpoint? {
        try await self.reads.read { db in try Self.auditCheckpoints(db, latestOnly: true).first }
    }

    /// Verifies the audit chain of the database at `path`, opened read-only: `rotor audit verify`
    /// needs neither the keyring nor a migration, and must not change what it checks. The stored
    /// checkpoints and `checkpoints` (ones kept elsewhere, their MACs already checked) are held
    /// against the chain.
    public static func verifyAuditChain(databaseAt path: String, checkpoints: [AuditCheckpoint] = []) throws -> AuditVerification {
        try Self.openReadOnly(path).read { db in
            guard try db.tableExists("audit_log") else {
                return AuditCheckpointMatcher(checkpoints).verdict(intactCount: 0)
            }
            return try Self.verifyAuditChain(db, checkpoints: checkpoints)
        }
    }

    /// The stored checkpoint of the highest entry in the database at `path`, opened read-only.
    public static func latestAuditCheckpoint(databaseAt path: String) throws -> AuditCheckpoint? {
        try Self.openReadOnly(path).read { db in try Self.auditCheckpoints(db, latestOnly: true).first }
    }

    private static func openReadOnly(_ path: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.label = "rotor.audit-verify"
        return try DatabaseQueue(path: path, configuration: configuration)
    }

    // MARK: Checkpoints

    /// `v7-audit-checkpoints`: signed checkpoints of the log's head (``AuditCheckpoint``), one per
    /// entry signed: instances that sign the same head store it once.
    static func registerAuditCheckpointMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7-audit-checkpoints") { db in
            try db.execute(
                sql: """
                    CREATE TABLE audit_checkpoints (
                        seq INTEGER PRIMARY KEY NOT NULL,
                        hash TEXT NOT NULL,
                        signed_at TEXT NOT NULL,
                        key_id TEXT NOT NULL,
                        mac TEXT NOT NULL
                    )
                    """
            )
        }
    }

    /// The newest entry's seq and hash; nil while the log is empty.
    private static func auditHead(_ db: Database) throws -> (seq: Int, hash: String)? {
        try db.fetchRow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").map {
            (try $0.decode(Int.self, forColumn: "seq"), try $0.decode(String.self, forColumn: "hash"))
        }
    }

    /// Stored checkpoints by seq, or only the highest; none in a database from before checkpoints.
    private static func auditCheckpoints(_ db: Database, latestOnly: Bool) throws -> [AuditCheckpoint] {
        guard try db.tableExists("audit_checkpoints") else { return [] }
        let sql = latestOnly ? "SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1" : "SELECT * FROM audit_checkpoints ORDER BY seq"
        return try db.fetchRows(sql).map { row in
            AuditCheckpoint(
                seq: try row.decode(Int.self, forColumn: "seq"), hash: try row.decode(String.self, forColumn: "hash"),
                signedAt: try row.decode(String.self, forColumn: "signed_at"), keyID: try row.decode(String.self, forColumn: "key_id"),
                mac: try row.decode(String.self, forColumn: "mac"))
        }
    }

    // MARK: Chain

    /// Appends `record` after the last entry, in the caller's transaction.
    static func appendAudit(_ db: Database, _ record: AuditRecord) throws {
        let last = try db.fetchRow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        let seq = (try last?.decode(Int.self, forColumn: "seq") ?? 0) + 1
        let previous = try last?.decode(String.self, forColumn: "hash") ?? AuditChain.genesisHash
        let at = AuditChain.time(record.at)
        let hash = AuditChain.hash(seq: seq, at: at, actor: record.actor, action: record.action, resource: record.resource, outcome: record.outcome, previous: previous)
        try db.run(
            sql: "INSERT INTO audit_log (seq, at, actor, action, resource, outcome, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [seq, at, record.actor, record.action, record.resource, record.outcome, hash]
        )
    }

    private static func verifyAuditChain(_ db: Database, checkpoints: [AuditCheckpoint]) throws -> AuditVerification {
        var verifier = AuditChain.Verifier(checkpoints: try Self.auditCheckpoints(db, latestOnly: false) + checkpoints)
        let statement = try db.makeStatement(sql: "SELECT * FROM audit_log ORDER BY seq")
        let columns = statement.columnNames
        let cursor = try Row.fetchCursor(statement)
        while let row = try cursor.next() {
            if let broken = try verifier.visit(SQLiteRow(row: row, columns: columns)) { return broken }
        }
        return verifier.verdict()
    }

    private static func auditEntry(from row: Row) throws -> AuditEntry {
        let text = try row.decode(String.self, forColumn: "at")
        guard let at = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) else {
            throw RowCoding.corrupt("at", text)
        }
        return AuditEntry(
            seq: try row.decode(Int.self, forColumn: "seq"),
            record: AuditRecord(
                at: at,
                actor: try row.decode(String.self, forColumn: "actor"),
                action: try row.decode(String.self, forColumn: "action"),
                resource: try row.decode(String.self, forColumn: "resource"),
                outcome: try row.decode(String.self, forColumn: "outcome")
            ),
            hash: try row.decode(String.self, forColumn: "hash")
        )
    }
}
