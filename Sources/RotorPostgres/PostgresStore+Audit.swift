public import Foundation
public import Logging
import PostgresNIO
public import RotorCore
import RotorCrypto

extension PostgresStore: AuditStore {
    /// `v3-tokens-audit`: scoped API tokens (by SHA-256 only) and the hash-chained audit log, as
    /// in the SQLite store.
    static let tokenAndAuditMigration = Migration(
        version: "v3-tokens-audit",
        statements: [
            // The token itself is never stored: only the hex SHA-256 it is looked up by.
            """
            CREATE TABLE tokens (
                id text PRIMARY KEY,
                name text NOT NULL,
                sha256 text NOT NULL UNIQUE,
                scopes text NOT NULL,
                credential_ids text,
                expires_at double precision,
                created_at double precision NOT NULL
            )
            """,
            "CREATE INDEX tokens_by_created_at ON tokens(created_at, id)",
            // Append-only; each hash covers the entry and the previous hash. `at` is the RFC 3339
            // text that was hashed, so verification needs no time arithmetic.
            """
            CREATE TABLE audit_log (
                seq bigint PRIMARY KEY,
                at text NOT NULL,
                actor text NOT NULL,
                action text NOT NULL,
                resource text NOT NULL,
                outcome text NOT NULL,
                hash text NOT NULL
            )
            """,
        ]
    )

    public func appendAudit(_ record: AuditRecord) async throws {
        try await self.write { tx in tx.audits.append(record) }
    }

    public func auditEntries(_ page: PageRequest) async throws -> Page<AuditEntry> {
        let after = try page.cursor.map { try Cursor.decodeSequence($0) } ?? 0
        return try await self.read { tx in
            var items = try await tx.rows("SELECT * FROM audit_log WHERE seq > \(after) ORDER BY seq LIMIT \(page.limit + 1)")
                .map(Self.auditEntry(from:))
            var next: String?
            if items.count > page.limit {
                items.removeLast(items.count - page.limit)
                next = items.last.map { Cursor.encode(sequence: $0.seq) }
            }
            return Page(items: items, nextCursor: next)
        }
    }

    public func verifyAuditChain() async throws -> AuditVerification {
        try await self.read { tx in try Self.verifyAuditChain(try await tx.rows("SELECT * FROM audit_log ORDER BY seq")) }
    }

    /// Verifies the audit chain of the database at `url` on one read-only connection, without
    /// migrating anything: `rotor audit verify` needs no keyring and must not change what it checks.
    public static func verifyAuditChain(url: PostgresURL, logger: Logger) async throws -> AuditVerification {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: PostgresConnection.Configuration(url), id: 0, logger: logger)
        } catch {
            throw PostgresStoreError("cannot open the PostgreSQL database \(url): \(Self.describe(error))")
        }
        do {
            try await connection.run("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
            let exists = try await connection.rows("SELECT to_regclass('audit_log') IS NOT NULL AS present", logger: logger).first
            let result: AuditVerification
            if try exists?["present"].decode(Bool.self) == true {
                result = try Self.verifyAuditChain(try await connection.rows("SELECT * FROM audit_log ORDER BY seq", logger: logger))
            } else {
                result = .intact(count: 0)
            }
            try await connection.run("COMMIT", logger: logger)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Walks `rows` (the whole log, by seq) from the genesis hash.
    private static func verifyAuditChain(_ rows: [PostgresRandomAccessRow]) throws -> AuditVerification {
        var previous = Self.auditGenesisHash
        var expectedSeq = 1
        for row in rows {
            let seq = try row.int("seq")
            guard seq == expectedSeq else {
                return .broken(seq: seq, reason: "expected entry \(expectedSeq) here: an entry is missing")
            }
            let stored = try row.string("hash")
            let computed = Self.auditHash(
                seq: seq, at: try row.string("at"), actor: try row.string("actor"), action: try row.string("action"),
                resource: try row.string("resource"), outcome: try row.string("outcome"), previous: previous)
            guard computed == stored else {
                return .broken(seq: seq, reason: "its hash does not match its content and the previous entry's hash")
            }
            previous = stored
            expectedSeq += 1
        }
        return .intact(count: expectedSeq - 1)
    }

    // MARK: Chain

    /// The hash before the first entry.
    static let auditGenesisHash = String(repeating: "0", count: 64)

    /// Appends `records` after the last entry, in the caller's transaction. A transaction-scoped
    /// advisory lock orders appenders (every instance's), so each reads the last entry as the
    /// previous appender committed it: the chain never forks and `seq` has no gaps.
    static func appendAudits(_ tx: Transaction, _ records: [AuditRecord]) async throws {
        guard !records.isEmpty else { return }
        try await tx.run("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.rotor_audit_log'))")
        let last = try await tx.rows("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").first
        var seq = try last?.int("seq") ?? 0
        var previous = try last?.string("hash") ?? Self.auditGenesisHash
        for record in records {
            seq += 1
            let at = Self.auditTime(record.at)
            let hash = Self.auditHash(
                seq: seq, at: at, actor: record.actor, action: record.action, resource: record.resource, outcome: record.outcome,
                previous: previous)
            try await tx.run(
                """
                INSERT INTO audit_log (seq, at, actor, action, resource, outcome, hash)
                VALUES (\(seq), \(at), \(record.actor), \(record.action), \(record.resource), \(record.outcome), \(hash))
                """
            )
            previous = hash
        }
    }

    /// SHA-256 (hex) over the entry's fields and the previous hash, each as `<UTF-8 length>:<bytes>;`:
    /// the SQLite store's encoding byte for byte, so both stores' chains verify alike.
    static func auditHash(seq: Int, at: String, actor: String, action: String, resource: String, outcome: String, previous: String) -> String {
        var bytes: [UInt8] = []
        for field in [String(seq), at, actor, action, resource, outcome, previous] {
            bytes += Array("\(field.utf8.count):".utf8)
            bytes += Array(field.utf8)
            bytes.append(UInt8(ascii: ";"))
        }
        return SHA256.hexDigest(bytes)
    }

    /// RFC 3339 UTC with milliseconds, the form the API shows.
    static func auditTime(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!))
    }

    /// A job's terminal state (`job.succeeded`, `job.rolled_back`, ...), appended in the
    /// transaction that makes it terminal: the engine's doing, or the caller's when a cancel ends
    /// a queued job at once.
    static func outcomeRecord(_ job: Job, actor: String = "engine") -> AuditRecord {
        AuditRecord(at: job.finishedAt ?? job.updatedAt, actor: actor, action: "job.\(job.state.rawValue)", resource: job.id.rawValue)
    }

    private static func auditEntry(from row: PostgresRandomAccessRow) throws -> AuditEntry {
        let text = try row.string("at")
        guard let at = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) else {
            throw Rows.corrupt("at", text)
        }
        return AuditEntry(
            seq: try row.int("seq"),
            record: AuditRecord(
                at: at, actor: try row.string("actor"), action: try row.string("action"), resource: try row.string("resource"),
                outcome: try row.string("outcome")),
            hash: try row.string("hash")
        )
    }
}
