public import Foundation
public import Logging
import PostgresNIO
public import RotorCore
import RotorCrypto
import RotorStorage

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

    /// `v4-audit-staging`: audit records as their writes commit them, before they are chained.
    static let auditStagingMigration = Migration(
        version: "v4-audit-staging",
        statements: [
            """
            CREATE TABLE audit_staged (
                id bigserial PRIMARY KEY,
                at text NOT NULL,
                actor text NOT NULL,
                action text NOT NULL,
                resource text NOT NULL,
                outcome text NOT NULL
            )
            """
        ]
    )

    public func appendAudit(_ record: AuditRecord) async throws {
        try await self.write { tx in tx.audits.append(record) }
    }

    public func auditEntries(_ page: PageRequest) async throws -> Page<AuditEntry> {
        let after = try page.cursor.map { try PageCursor.decodeSequence($0) } ?? 0
        // What has committed is in the log before anyone reads it.
        try await self.chainAudits()
        return try await self.readStatement { tx in
            let rows = try await tx.rows("SELECT * FROM audit_log WHERE seq > \(after) ORDER BY seq LIMIT \(page.limit + 1)")
                .map(Self.auditEntry(from:))
            return Page(rows, limit: page.limit) { PageCursor.encode(sequence: $0.seq) }
        }
    }

    /// `v7-audit-checkpoints`: signed checkpoints of the log's head (``AuditCheckpoint``), one per
    /// entry signed: instances that sign the same head store it once.
    static let auditCheckpointMigration = Migration(
        version: "v7-audit-checkpoints",
        statements: [
            """
            CREATE TABLE audit_checkpoints (
                seq bigint PRIMARY KEY,
                hash text NOT NULL,
                signed_at text NOT NULL,
                key_id text NOT NULL,
                mac text NOT NULL
            )
            """
        ]
    )

    public func verifyAuditChain() async throws -> AuditVerification {
        try await self.chainAudits()
        return try await self.read { tx in
            try Self.verifyAuditChain(
                try await tx.rows("SELECT * FROM audit_log ORDER BY seq"),
                checkpoints: try await Self.auditCheckpoints(tx.rows("SELECT * FROM audit_checkpoints ORDER BY seq")))
        }
    }

    public func auditCheckpoint(at now: Date) async throws -> AuditCheckpoint? {
        try await self.chainAudits()
        let head = try await self.readStatement { tx in
            try await tx.rows("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").first.map { (seq: try $0.int("seq"), hash: try $0.string("hash")) }
        }
        return try head.map { try AuditChain.signCheckpoint(seq: $0.seq, hash: $0.hash, at: now, keyring: self.keyring) }
    }

    public func publishAuditCheckpoint(at now: Date) async throws -> AuditCheckpoint? {
        try await self.chainAudits()
        // Not a write anyone asked for: the caller's pending audit record is not this one's.
        return try await Audit.$pending.withValue(nil) {
            try await self.write { tx in
                guard let head = try await tx.rows("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").first else { return nil }
                let checkpoint = try AuditChain.signCheckpoint(seq: try head.int("seq"), hash: try head.string("hash"), at: now, keyring: self.keyring)
                // Another instance may sign the same head at the same time: the first row stays,
                // and only the instance that wrote it logs and reports it.
                let inserted = try await tx.rows(
                    """
                    INSERT INTO audit_checkpoints (seq, hash, signed_at, key_id, mac)
                    VALUES (\(checkpoint.seq), \(checkpoint.hash), \(checkpoint.signedAt), \(checkpoint.keyID), \(checkpoint.mac))
                    ON CONFLICT (seq) DO NOTHING RETURNING seq
                    """)
                guard !inserted.isEmpty else { return nil }
                try await self.enqueue(&tx, [OutboxEvent.checkpoint(checkpoint, at: now)], at: now)
                return checkpoint
            }
        }
    }

    public func latestAuditCheckpoint() async throws -> AuditCheckpoint? {
        try await self.readStatement { tx in
            try Self.auditCheckpoints(try await tx.rows("SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")).first
        }
    }

    private static func auditCheckpoints(_ rows: [PostgresRandomAccessRow]) throws -> [AuditCheckpoint] {
        try rows.map { row in
            AuditCheckpoint(
                seq: try row.int("seq"), hash: try row.string("hash"), signedAt: try row.string("signed_at"),
                keyID: try row.string("key_id"), mac: try row.string("mac"))
        }
    }

    /// The stored checkpoint of the highest entry in the database at `url`, on one read-only
    /// connection; nil when there is none (or the database predates checkpoints).
    public static func latestAuditCheckpoint(url: PostgresURL, logger: Logger) async throws -> AuditCheckpoint? {
        try await Self.withReadOnlyConnection(url: url, logger: logger) { connection in
            guard try await Self.tableExists("audit_checkpoints", connection, logger: logger) else { return nil }
            return try Self.auditCheckpoints(
                try await connection.rows("SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1", logger: logger)).first
        }
    }

    /// Verifies the audit chain of the database at `url` on one read-only connection, without
    /// migrating anything: `rotor audit verify` needs no keyring and must not change what it checks.
    /// The stored checkpoints and `checkpoints` (ones kept elsewhere, their MACs already checked)
    /// are held against the chain.
    public static func verifyAuditChain(url: PostgresURL, checkpoints: [AuditCheckpoint] = [], logger: Logger) async throws -> AuditVerification {
        try await Self.withReadOnlyConnection(url: url, logger: logger) { connection in
            guard try await Self.tableExists("audit_log", connection, logger: logger) else {
                return AuditCheckpointMatcher(checkpoints).verdict(intactCount: 0)
            }
            let stored =
                try await Self.tableExists("audit_checkpoints", connection, logger: logger)
                ? try Self.auditCheckpoints(try await connection.rows("SELECT * FROM audit_checkpoints ORDER BY seq", logger: logger)) : []
            return try Self.verifyAuditChain(
                try await connection.rows("SELECT * FROM audit_log ORDER BY seq", logger: logger), checkpoints: stored + checkpoints)
        }
    }

    /// Runs `body` in a read-only transaction on one connection of its own. `BEGIN` names the
    /// isolation level itself, which `withTransaction` (a bare `BEGIN`) cannot.
    private static func withReadOnlyConnection<T: Sendable>(
        url: PostgresURL, logger: Logger, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: PostgresConnection.Configuration(url), id: 0, logger: logger)
        } catch {
            throw PostgresStoreError("cannot open the PostgreSQL database \(url): \(Self.describe(error))")
        }
        do {
            try await connection.run("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
            let result = try await body(connection)
            try await connection.run("COMMIT", logger: logger)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    private static func tableExists(_ name: String, _ connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let row = try await connection.rows("SELECT to_regclass(\(name)) IS NOT NULL AS present", logger: logger).first
        return try row?["present"].decode(Bool.self) == true
    }

    /// Walks `rows` (the whole log, by seq) from the genesis hash.
    private static func verifyAuditChain(_ rows: [PostgresRandomAccessRow], checkpoints: [AuditCheckpoint]) throws -> AuditVerification {
        var verifier = AuditChain.Verifier(checkpoints: checkpoints)
        for row in rows {
            if let broken = try verifier.visit(row) { return broken }
        }
        return verifier.verdict()
    }

    // MARK: Chain

    /// Stages `records` in the caller's transaction, so that they commit with the write they
    /// record, or not at all. ``chainAudits()`` moves them onto the log once they have committed.
    ///
    /// Appending to the chain needs the previous entry's hash, so appenders take turns. In the
    /// write's own transaction that turn lasted until its commit had been flushed to disk, and
    /// every audited write of every instance queued behind the one before; staging takes no
    /// turn, and one chaining transaction then appends whatever has been staged meanwhile.
    static func stageAudits(_ tx: Transaction, _ records: [AuditRecord]) async throws {
        guard !records.isEmpty else { return }
        try await tx.run(Prepared.StageAudits(records, time: AuditChain.time))
    }

    /// How many staged records one chaining transaction appends at most.
    static let auditChainBatch = 500

    /// Appends every committed staged record to the log, in the order they were staged (by
    /// `id`), and removes them from staging in the same transaction. A transaction-scoped
    /// advisory lock orders chainers (every instance's), so each reads the last entry as the
    /// previous chainer committed it: the chain never forks and `seq` has no gaps.
    ///
    /// Runs after every write that staged records (in the background, see ``runAuditChainer()``),
    /// when the store connects (records staged by an instance that died before chaining them),
    /// and before the log is read, so a caller always reads its own writes' entries.
    func chainAudits() async throws {
        // Not the caller's write: its pending audit record must not be staged again here.
        while try await Audit.$pending.withValue(nil, operation: { try await self.chainAuditBatch() }) == Self.auditChainBatch {}
    }

    private func chainAuditBatch() async throws -> Int {
        try await self.write { tx in
            try await tx.run("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.rotor_audit_log'))")
            let staged = try await tx.rows(
                "SELECT id, at, actor, action, resource, outcome FROM audit_staged ORDER BY id LIMIT \(Self.auditChainBatch)")
            guard !staged.isEmpty else { return 0 }
            let last = try await tx.rows("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").first
            var seq = try last?.int("seq") ?? 0
            var previous = try last?.string("hash") ?? AuditChain.genesisHash
            let insert = SQL("INSERT INTO audit_log (seq, at, actor, action, resource, outcome, hash) VALUES ")
            var tuples: [String] = []
            var ids: [Int] = []
            for row in staged {
                seq += 1
                let (at, actor, action, resource, outcome) = (
                    try row.string("at"), try row.string("actor"), try row.string("action"), try row.string("resource"), try row.string("outcome")
                )
                let hash = AuditChain.hash(seq: seq, at: at, actor: actor, action: action, resource: resource, outcome: outcome, previous: previous)
                tuples.append(
                    "(" + insert.bind([.int(seq), .text(at), .text(actor), .text(action), .text(resource), .text(outcome), .text(hash)]) + ")")
                ids.append(try row.int("id"))
                previous = hash
            }
            insert.append(tuples.joined(separator: ", "))
            try await tx.run(insert)
            try await tx.run("DELETE FROM audit_staged WHERE id = ANY(\(ids))")
            return staged.count
        }
    }

    /// Chains staged records whenever ``AuditChainer/ring()`` is called, until the store shuts
    /// down. A failure (the database unreachable) leaves them staged for the next ring.
    func runAuditChainer() async {
        for await _ in self.auditChainer.rings {
            do {
                try await self.chainAudits()
            } catch {
                if Task.isCancelled { return }
                self.logger.warning("chaining audit records failed; they stay staged", metadata: ["error": "\(Self.describe(error))"])
            }
        }
    }

    private static func auditEntry(from row: PostgresRandomAccessRow) throws -> AuditEntry {
        let text = try row.string("at")
        guard let at = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) else {
            throw RowCoding.corrupt("at", text)
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

/// Wakes ``PostgresStore/runAuditChainer()``. Rings that arrive while it chains are folded into
/// one more run, which picks up everything they staged.
struct AuditChainer: Sendable {
    let rings: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (self.rings, self.continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func ring() { self.continuation.yield() }

    func finish() { self.continuation.finish() }
}
