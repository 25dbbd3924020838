public import Foundation
public import Logging
import NIOCore
import NIOSSL
public import PostgresNIO
public import ServiceLifecycle
public import RotorCore
public import RotorCrypto
import Synchronization
import RotorStorage

/// The shared ``Store``: PostgreSQL through postgres-nio, for several Rotor instances on one
/// database (DESIGN.md §1, §2 rule 3).
///
/// Every method is one transaction on a pooled connection (`PostgresClient`). Writes take row
/// locks in a fixed order (job, then credential) so concurrent instances serialize on the rows
/// they share; a serialization failure or deadlock is retried. Jobs and outbox deliveries are
/// claimed with `FOR UPDATE SKIP LOCKED` under leases (owner + expiry), so two instances never
/// work on the same job at once and a dead instance's jobs are taken over once its leases lapse.
/// Changes that make work available are announced with `NOTIFY` (``JobNotifications``,
/// ``SubscriptionStore/observeOutbox(_:)``); polling stays the fallback.
///
/// Secrets are sealed exactly as ``RotorCrypto/Envelope`` and the SQLite store do: bound to
/// (owner id, field, version), so the two stores' rows mean the same.
public final class PostgresStore: Store, Service {
    /// The connection pool, a `Service`.
    public let client: PostgresClient
    let url: PostgresURL
    public let keyring: Keyring
    let logger: Logger
    /// Tags this store's own `NOTIFY`s, so its listener can skip what it already reported locally.
    let instanceToken = UUID().uuidString
    let outboxObservers = Mutex<[@Sendable () -> Void]>([])
    let jobObservers = Mutex<[@Sendable () -> Void]>([])
    let finishedJobObservers = Mutex<[@Sendable (JobID?) -> Void]>([])
    let servedKeyObservers = Mutex<[@Sendable (CredentialID?) -> Void]>([])
    private let tasks = Mutex<[Task<Void, Never>]>([])
    let auditChainer = AuditChainer()

    /// Channels of the wake-ups.
    static let jobsChannel = "rotor_jobs"
    static let outboxChannel = "rotor_outbox"
    /// Payload `schema|instance|job id`: a job became terminal (``Store/observeFinishedJobs(_:)``).
    static let finishedJobsChannel = "rotor_jobs_finished"
    /// Payload `schema|instance|credential id`: the key a credential serves may have changed
    /// (``Store/observeServedKeys(_:)``).
    static let servedKeysChannel = "rotor_served_keys"

    /// A store on the database at `url` that is not open yet: run ``client`` (a `Service`: `rotor
    /// serve` runs it in its ServiceGroup), then call ``open()``.
    /// ``connect(url:keyring:maximumConnections:logger:)`` does both.
    ///
    /// - Parameter maximumConnections: the pool's size; one connection is held by the listener.
    public init(url: PostgresURL, keyring: Keyring, maximumConnections: Int = 20, logger: Logger) throws {
        let tls: PostgresClient.Configuration.TLS =
            switch (url.tlsMode, try url.makeTLSConfiguration()) {
            case (_, nil): .disable
            case (.prefer, let configuration?): .prefer(configuration)
            case (_, let configuration?): .require(configuration)
            }
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password, database: url.database, tls: tls)
        configuration.options.maximumConnections = max(2, maximumConnections)
        configuration.options.connectTimeout = .seconds(5)
        if let searchPath = url.searchPath {
            configuration.options.additionalStartupParameters = [("search_path", searchPath)]
        }
        var storeLogger = logger
        storeLogger[metadataKey: "database"] = "\(url)"
        self.url = url
        self.client = PostgresClient(configuration: configuration, backgroundLogger: storeLogger)
        self.keyring = keyring
        self.logger = storeLogger
    }

    /// Connects to `url` with a pool that runs in a task of its own, and opens the store. Call
    /// ``shutdown()`` when done.
    public static func connect(
        url: PostgresURL, keyring: Keyring, maximumConnections: Int = 20, logger: Logger
    ) async throws -> PostgresStore {
        let store = try PostgresStore(url: url, keyring: keyring, maximumConnections: maximumConnections, logger: logger)
        try await store.connect()
        return store
    }

    /// Runs the pool in a task of its own and opens the store (``open()``), for callers without a
    /// ServiceGroup to run ``client`` in. Call ``shutdown()`` when done.
    public func connect() async throws {
        let client = self.client
        self.track(Task { await client.run() })
        do {
            try await self.open()
        } catch {
            self.shutdown()
            throw error
        }
    }

    /// Migrates the schema, indexes and chains what earlier versions or a dead instance left, and
    /// starts listening for other instances' changes. The pool (``client``) must be running.
    public func open() async throws {
        // The migration runs on a connection of its own, before the pool is first used.
        let schema: String
        do {
            let connection = try await PostgresConnection.connect(
                configuration: PostgresConnection.Configuration(self.url), id: 0, logger: self.logger)
            do {
                try await Self.migrate(connection, logger: self.logger)
                schema = try await connection.rows("SELECT current_schema() AS schema", logger: self.logger).first?.string("schema") ?? ""
                try await connection.close()
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            throw PostgresStoreError("cannot open the PostgreSQL database \(self.url): \(Self.describe(error))")
        }
        do {
            try await self.backfillCurrentKeyDigests()
        } catch {
            throw PostgresStoreError("cannot index the stored current keys: \(Self.describe(error))")
        }
        do {
            // Records staged by an instance that died before chaining them.
            try await self.chainAudits()
        } catch {
            throw PostgresStoreError("cannot chain staged audit records: \(Self.describe(error))")
        }
        self.track(Task { await self.runAuditChainer() })
        await self.startListening(schema: schema)
    }

    /// Stops listening and chaining, and closes the pool's connections if ``connect()`` runs it.
    /// Calls in flight fail.
    public func shutdown() {
        self.auditChainer.finish()
        for task in self.tasks.withLock({ $0 }).reversed() { task.cancel() }
    }

    /// Holds the store open until graceful shutdown, then stops its listener and audit chainer and
    /// waits for them. In a ServiceGroup it follows the pool (``client``), so they end before the
    /// pool closes their connections.
    public func run() async {
        try? await gracefulShutdown()
        self.shutdown()
        for task in self.tasks.withLock({ $0 }) { await task.value }
    }

    /// A server error's message and code, or the error's kind; never a query's parameters.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let message = error.serverInfo?[.message] {
            return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
        }
        return "\(error.code)"
    }

    func track(_ task: Task<Void, Never>) {
        self.tasks.withLock { $0.append(task) }
    }

    // MARK: Transactions

    /// The transaction a write runs in, and what to do once it has committed.
    struct Transaction {
        let connection: PostgresConnection
        let logger: Logger
        /// Outbox rows were written: wake this instance's dispatcher after the commit.
        var wroteOutbox = false
        /// Audit records to stage just before the commit, in order: the calling task's pending
        /// record (``Audit/currentRecord``) first, then what the write appends as its
        /// consequences (a job's terminal state), as the SQLite store orders them. They are
        /// chained onto the log right after the commit (``chainAudits()``).
        var audits: [AuditRecord] = []

        func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
            try await self.connection.rows(query, logger: self.logger)
        }

        func rows(_ sql: SQL) async throws -> [PostgresRandomAccessRow] {
            try await self.connection.rows(sql, logger: self.logger)
        }

        func run(_ query: PostgresQuery) async throws {
            try await self.connection.run(query, logger: self.logger)
        }

        func run(_ sql: SQL) async throws {
            try await self.connection.run(sql, logger: self.logger)
        }

        func rows(_ statement: some PreparedQuery) async throws -> [PostgresRandomAccessRow] {
            try await self.connection.rows(statement, logger: self.logger)
        }

        func run(_ statement: some PreparedQuery) async throws {
            _ = try await self.connection.rows(statement, logger: self.logger)
        }

        /// Runs `body` in a savepoint; false, with its effects undone, on a unique violation.
        func unlessUniqueViolation(_ body: () async throws -> Void) async throws -> Bool {
            try await self.connection.unlessUniqueViolation(logger: self.logger, body)
        }
    }

    /// Runs `body` in a read-write transaction (read committed, with explicit row locks). A
    /// serialization failure or deadlock rolls back and runs `body` again, up to three times.
    ///
    /// The calling task's pending audit record (AuditStore) commits with the write, or not at all.
    func write<T: Sendable>(_ body: (inout Transaction) async throws -> T) async throws -> T {
        // Read in the caller's task: the connection's closure may run elsewhere.
        let pendingAudit = Audit.currentRecord
        var attempt = 1
        while true {
            do {
                let (value, (wroteOutbox, stagedAudits)) = try await self.client.withConnection { connection in
                    try await connection.transaction(logger: self.logger) { connection in
                        var transaction = Transaction(connection: connection, logger: self.logger)
                        if let pendingAudit { transaction.audits.append(pendingAudit) }
                        let value = try await body(&transaction)
                        try await Self.stageAudits(transaction, transaction.audits)
                        return (value, (transaction.wroteOutbox, !transaction.audits.isEmpty))
                    }
                }
                if wroteOutbox {
                    for observer in self.outboxObservers.withLock({ $0 }) { observer() }
                }
                if stagedAudits { self.auditChainer.ring() }
                return value
            } catch where attempt < 3 && SQLState.isRetryable(error) {
                attempt += 1
            }
        }
    }

    /// Runs `body`, which must issue exactly one statement, on a pooled connection without an
    /// explicit transaction. One statement sees one snapshot by itself, so a point read needs no
    /// `BEGIN` and `COMMIT`: one round trip instead of three, on the routes callers poll.
    func readStatement<T: Sendable>(_ body: (Transaction) async throws -> T) async throws -> T {
        try await self.client.withConnection { connection in
            try await body(Transaction(connection: connection, logger: self.logger))
        }
    }

    /// Runs `body` in a read-only transaction on one snapshot (repeatable read), so reads that
    /// span several statements see one committed state.
    ///
    /// Not `withTransaction`: it always sends a bare `BEGIN`, so the isolation level would cost a
    /// `SET TRANSACTION` round trip more on every snapshot read; here `BEGIN` carries it.
    func read<T: Sendable>(_ body: (Transaction) async throws -> T) async throws -> T {
        try await self.client.withConnection { connection in
            let transaction = Transaction(connection: connection, logger: self.logger)
            try await connection.run("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: self.logger)
            do {
                let value = try await body(transaction)
                try await connection.run("COMMIT", logger: self.logger)
                return value
            } catch {
                await self.rollBack(connection)
                throw error
            }
        }
    }

    /// Ends a failed transaction so the connection goes back to the pool clean. It runs in a task
    /// of its own, so a cancelled caller still rolls back; a connection that cannot roll back is
    /// closed, and the pool replaces it.
    private func rollBack(_ connection: PostgresConnection) async {
        let logger = self.logger
        let rolledBack = await Task {
            do {
                try await connection.run("ROLLBACK", logger: logger)
                return true
            } catch {
                return false
            }
        }.value
        if !rolledBack { try? await connection.close() }
    }

    // MARK: Credentials

    public func createCredential(_ credential: Credential, secrets: CredentialSecrets) async throws {
        let key = HeldKey(credential, currentKeySHA256: SHA256.hexDigest(secrets.current.reveal()))
        try await self.write { tx in
            // Registrations take turns (a transaction-scoped lock per schema), so of two
            // registering one key at once the second sees the first's row.
            try await tx.run("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.credential_keys'))")
            if let holder = try await Self.credentialHolding(tx, key) { throw key.refusal(heldBy: holder) }
            let sql = SQL("INSERT INTO credentials (\(RowCoding.credentialColumns.joined(separator: ", "))) VALUES (")
            sql.append(sql.bind(try RowCoding.values(credential)) + ")")
            guard try await tx.unlessUniqueViolation({ try await tx.run(sql) }) else {
                throw StoreError(.duplicateName, message: "a credential named '\(credential.name)' already exists")
            }
            let owner = credential.id.rawValue
            try await self.putSecret(tx, owner: owner, field: EnvelopeField.currentKey, secrets.current)
            if let previous = secrets.previous {
                try await self.putSecret(tx, owner: owner, field: EnvelopeField.previousKey, previous)
            }
            for (target, secret) in secrets.signingSecrets {
                try await self.putSecret(tx, owner: owner, field: EnvelopeField.signingSecret(target), secret)
            }
        }
    }

    public func credential(_ id: CredentialID) async throws -> Credential? {
        try await self.readStatement { tx in try await Self.fetchCredential(tx, id) }
    }

    public func credentials(_ page: PageRequest) async throws -> Page<Credential> {
        let after = try page.cursor.map { try PageCursor.decodeName($0) }
        return try await self.readStatement { tx in
            let sql = SQL("SELECT * FROM credentials")
            // COLLATE "C": byte order, as SQLite compares, whatever the database's locale; the
            // cursor's comparison and the order must agree or a page skips or repeats names.
            if let after { sql.append(" WHERE name COLLATE \"C\" > \(sql.bind(.text(after)))") }
            sql.append(" ORDER BY name COLLATE \"C\" LIMIT \(sql.bind(.int(page.limit + 1)))")
            return Page(try await tx.rows(sql).map(RowCoding.credential(from:)), limit: page.limit) { PageCursor.encode(name: $0.name) }
        }
    }

    public func credentialSecrets(_ id: CredentialID) async throws -> CredentialSecrets {
        try await self.read { tx in
            guard try await Self.fetchCredential(tx, id) != nil else { throw StoreError.credentialNotFound(id) }
            return try await self.fetchCredentialSecrets(tx, id)
        }
    }

    public func updateCredential(_ credential: Credential, signingSecrets: [TargetID: Secret]?, ifUnmodifiedSince: Date?) async throws {
        try await self.write { tx in
            guard let stored = try await Self.fetchCredential(tx, credential.id, lock: true) else {
                throw StoreError.credentialNotFound(credential.id)
            }
            if let ifUnmodifiedSince, stored.updatedAt != ifUnmodifiedSince {
                throw StoreError(.conflict, message: "credential \(credential.id) changed since it was read")
            }
            try await Self.updateCredentialRow(tx, credential)

            guard let signingSecrets else { return }
            let owner = credential.id.rawValue
            let kept = Set(signingSecrets.keys.map(EnvelopeField.signingSecret))
            let storedFields = try await tx.rows(
                "SELECT field FROM secrets WHERE owner_id = \(owner) AND starts_with(field, \(EnvelopeField.signingSecretPrefix)) AND envelope IS NOT NULL"
            ).map { try $0.string("field") }
            for field in storedFields where !kept.contains(field) {
                try await self.deleteSecret(tx, owner: owner, field: field)
            }
            for (target, secret) in signingSecrets {
                try await self.putSecret(tx, owner: owner, field: EnvelopeField.signingSecret(target), secret)
            }
        }
    }

    public func deleteCredential(_ id: CredentialID) async throws {
        try await self.write { tx in
            guard try await Self.fetchCredential(tx, id, lock: true) != nil else { throw StoreError.credentialNotFound(id) }
            if let active = try await Self.activeJobID(tx, credential: id) {
                throw StoreError(.rotationInProgress, jobID: active, message: "credential \(id) has an active rotation job \(active)")
            }
            try await tx.run(
                "DELETE FROM secrets WHERE owner_id = \(id.rawValue) OR owner_id IN (SELECT id FROM jobs WHERE credential_id = \(id.rawValue))"
            )
            // Finished jobs and their events go with it (ON DELETE CASCADE).
            try await tx.run("DELETE FROM credentials WHERE id = \(id.rawValue)")
        }
    }

    // MARK: Jobs

    public func createJob(
        _ new: NewJob, idempotencyKey: String?, requestFingerprint: String?, events: [JobEvent]
    ) async throws -> JobCreation {
        try await self.write { tx in
            if let idempotencyKey {
                // A key lasts 24 h: an older job gives it up, so it starts a new job.
                let cutoff = new.createdAt.addingTimeInterval(-NewJob.idempotencyLifetime).timeIntervalSinceReferenceDate
                try await tx.run("UPDATE jobs SET idempotency_key = NULL WHERE idempotency_key = \(idempotencyKey) AND created_at < \(cutoff)")
            }
            if let idempotencyKey, let replay = try await Self.replay(tx, idempotencyKey: idempotencyKey, requestFingerprint: requestFingerprint) {
                return replay
            }
            guard let read = try await Self.fetchCredential(tx, new.credentialID) else { throw StoreError.credentialNotFound(new.credentialID) }
            guard read.state != .disabled else { throw StoreError.credentialDisabled(new.credentialID) }

            var stored = Job(new, credential: read)
            stored.revision = 1
            // The insert first: its unique-index check waits for a commit of the credential's
            // previous job that is under way, so once it succeeds no other job of the credential
            // can change the credential any more.
            let inserted = try await tx.unlessUniqueViolation {
                try await Self.insertJob(tx, stored, idempotencyKey: idempotencyKey, requestFingerprint: requestFingerprint)
            }
            guard inserted else {
                // Another transaction committed a job for this credential, or this key, first.
                if let idempotencyKey, let replay = try await Self.replay(tx, idempotencyKey: idempotencyKey, requestFingerprint: requestFingerprint) {
                    return replay
                }
                if let active = try await Self.activeJobID(tx, credential: new.credentialID) {
                    throw StoreError(
                        .rotationInProgress, jobID: active,
                        message: "credential \(new.credentialID) already has an active rotation job \(active)")
                }
                throw StoreError(.conflict, message: "job \(new.id) could not be stored; retry")
            }
            // Then the credential's row as it is now (an UPDATE waits for its writers and reads the
            // latest committed version): the read above may predate the previous job's last
            // commit, which moves the current key on (or back, in a rollback). Job, then
            // credential: the order every commit takes its locks in.
            guard
                let row = try await tx.rows(
                    """
                    UPDATE credentials SET state = \(CredentialState.rotating.rawValue), updated_at = \(new.createdAt.timeIntervalSinceReferenceDate)
                    WHERE id = \(new.credentialID.rawValue) AND state <> \(CredentialState.disabled.rawValue) RETURNING *
                    """
                ).first
            else { throw StoreError.credentialDisabled(new.credentialID) }
            let credential = try RowCoding.credential(from: row)
            if credential.current != read.current || credential.targets.map(\.id) != read.targets.map(\.id) {
                stored = Job(new, credential: credential)
                stored.revision = 1
                try await Self.updateJobRow(tx, stored, revision: stored.revision)
            }
            try await Self.appendEvents(tx, job: stored.id, events)
            try await Self.notifyJobs(tx)
            return .created(stored)
        }
    }

    /// The job an idempotency key created, or ``StoreError/Code/idempotencyConflict``.
    private static func replay(_ tx: Transaction, idempotencyKey: String, requestFingerprint: String?) async throws -> JobCreation? {
        guard let row = try await tx.rows("SELECT * FROM jobs WHERE idempotency_key = \(idempotencyKey)").first else { return nil }
        let existing = try RowCoding.job(from: row)
        guard try row.optionalString("request_fingerprint") == requestFingerprint else {
            throw StoreError(
                .idempotencyConflict, message: "the idempotency key was already used with a different request (job \(existing.id))")
        }
        return .replayed(existing)
    }

    static func insertJob(_ tx: Transaction, _ job: Job, idempotencyKey: String?, requestFingerprint: String?) async throws {
        let columns = RowCoding.jobValueColumns + ["revision", "idempotency_key", "request_fingerprint"]
        let sql = SQL("INSERT INTO jobs (\(columns.joined(separator: ", "))) VALUES (")
        sql.append(sql.bind(try RowCoding.values(job) + [.int(job.revision), .text(idempotencyKey), .text(requestFingerprint)]) + ")")
        try await tx.run(sql)
    }

    public func job(_ id: JobID) async throws -> Job? {
        try await self.readStatement { tx in try await Self.fetchJob(tx, id) }
    }

    public func jobs(_ filter: JobFilter, _ page: PageRequest) async throws -> Page<Job> {
        let after = try TimeKeyset.jobs.after(page.cursor)
        return try await self.readStatement { tx in
            let sql = SQL("SELECT * FROM jobs")
            var conditions: [String] = []
            if let credentialID = filter.credentialID {
                conditions.append("credential_id = \(sql.bind(.text(credentialID.rawValue)))")
            }
            if let state = filter.state {
                conditions.append("state = \(sql.bind(.text(state.rawValue)))")
            }
            return try await Self.page(tx, .jobs, after: after, limit: page.limit, sql, where: conditions, decode: RowCoding.job(from:))
        }
    }

    public func events(_ id: JobID) async throws -> [JobEvent] {
        try await self.readStatement { tx in
            try await tx.rows("SELECT * FROM job_events WHERE job_id = \(id.rawValue) ORDER BY seq").map(RowCoding.event(from:))
        }
    }

    // MARK: Running jobs

    public func claimJobs(owner: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [JobID] {
        guard limit > 0 else { return [] }
        let now = now.timeIntervalSinceReferenceDate
        let until = leaseUntil.timeIntervalSinceReferenceDate
        return try await self.write { tx in
            // SKIP LOCKED: instances claiming at once each take different jobs instead of waiting
            // on each other's row locks.
            let rows = try await tx.rows(
                """
                UPDATE jobs SET lease_owner = \(owner), lease_expires_at = \(until)
                WHERE id IN (
                    SELECT id FROM jobs
                    WHERE state IN ('queued', 'running')
                      AND (next_attempt_at IS NULL OR next_attempt_at <= \(now))
                      AND (lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= \(now))
                    ORDER BY created_at, id
                    LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED)
                RETURNING id, created_at
                """
            )
            return try rows.map { (id: try $0.string("id"), createdAt: try $0.double("created_at")) }
                .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
                .map { JobID(unchecked: $0.id) }
        }
    }

    public func renewLease(_ id: JobID, owner: String, until: Date) async throws -> Bool {
        try await self.write { tx in
            try await !tx.rows(
                """
                UPDATE jobs SET lease_expires_at = \(until.timeIntervalSinceReferenceDate)
                WHERE id = \(id.rawValue) AND lease_owner = \(owner) RETURNING id
                """
            ).isEmpty
        }
    }

    public func releaseLease(_ id: JobID, owner: String) async throws {
        try await self.write { tx in
            let released = try await tx.rows(
                """
                UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(id.rawValue) AND lease_owner = \(owner) AND state IN ('queued', 'running') RETURNING id
                """
            )
            if !released.isEmpty { try await Self.notifyJobs(tx) }
        }
    }

    public func releaseLeases(owner: String) async throws {
        try await self.write { tx in
            let released = try await tx.rows(
                "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = \(owner) RETURNING id"
            )
            if !released.isEmpty { try await Self.notifyJobs(tx) }
        }
    }

    public func rotation(_ id: JobID) async throws -> Rotation {
        try await self.rotation(id, knownJob: nil)
    }

    /// The engine's read before every step. While the stored revision equals `knownJob`'s (the
    /// runner committed the job itself), one statement reads the credential and every secret of
    /// the rotation: one round trip instead of six. Otherwise the job is read whole as well, in
    /// a snapshot transaction.
    public func rotation(_ id: JobID, knownJob: Job?) async throws -> Rotation {
        if let knownJob, knownJob.id == id {
            let row = try await self.readStatement { tx in try await tx.rows(Prepared.RotationRead(job: id)).first }
            if let row, try row.int("job_revision") == knownJob.revision {
                let credential = try RowCoding.credential(from: row)
                let sealed = try SealedSecret.all(in: row)
                let secrets = try self.credentialSecrets(credential.id, sealed.filter { $0.owner == credential.id.rawValue })
                let pending = try sealed.first { $0.owner == id.rawValue && $0.field == EnvelopeField.pendingKey }.map(self.open)
                return Rotation(job: knownJob, credential: credential, secrets: secrets, pendingKey: pending)
            }
        }
        return try await self.read { tx in
            guard let job = try await Self.fetchJob(tx, id) else { throw StoreError.jobNotFound(id) }
            guard let credential = try await Self.fetchCredential(tx, job.credentialID) else {
                throw StoreError.credentialNotFound(job.credentialID)
            }
            let secrets = try await self.fetchCredentialSecrets(tx, credential.id)
            let pending = try await self.fetchSecret(tx, owner: id.rawValue, field: EnvelopeField.pendingKey)
            return Rotation(job: job, credential: credential, secrets: secrets, pendingKey: pending)
        }
    }

    public func commit(_ commit: RotationCommit, owner: String) async throws {
        let plan = try await self.write { tx -> CommitPlan in
            let id = commit.job.id
            // The job's row lock orders this commit with a cancel and with other instances. The
            // outbox baseline comes with it: whatever changes the job's row bumps its revision,
            // so the credential state read here is current whenever the revision check passes.
            guard let row = try await tx.rows(Prepared.CommitGuard(job: id)).first
            else { throw StoreError.jobNotFound(id) }
            let stored = JobGuard(
                leaseOwner: try row.optionalString("lease_owner"), revision: try row.int("revision"),
                state: try RowCoding.enumValue(JobState.self, row, "state"), step: try RowCoding.enumValue(JobStep.self, row, "step"))
            let plan = try CommitPlan(commit, owner: owner, stored: stored)
            let baseline = OutboxBaseline(
                jobState: stored.state,
                credentialState: try row.optionalString("credential_state").flatMap(CredentialState.init(rawValue:)),
                subscribed: try row.bool("subscribed"))
            try await Self.updateJobRow(tx, plan.job, revision: plan.revision)
            if let record = plan.auditRecord { tx.audits.append(record) }
            if let credential = plan.credential { try await Self.updateRotationColumns(tx, credential) }
            try await self.enqueueEvents(&tx, reporting: plan.job, since: baseline)
            for write in plan.secrets { try await self.apply(write, tx) }
            try await Self.appendEvents(tx, job: id, plan.events)
            if plan.finishes { try await self.notifyFinished(tx, id) }
            if plan.movesJob { try await self.notifyServedKey(tx, plan.job.credentialID) }
            return plan
        }
        if plan.finishes { self.notifyFinishedJobObservers(commit.job.id) }
        if plan.movesJob { self.notifyServedKeyObservers(commit.job.credentialID) }
    }

    public func requestCancel(_ id: JobID, at now: Date) async throws -> Job {
        let actor = Audit.actor
        let plan = try await self.write { tx -> CancelPlan in
            guard let stored = try await Self.fetchJob(tx, id, lock: true) else { throw StoreError.jobNotFound(id) }
            let baseline = try await Self.outboxBaseline(tx, credential: stored.credentialID, jobState: stored.state)
            let plan = try CancelPlan(stored: stored, at: now, actor: actor)
            if plan.rewritesJob { try await Self.updateJobRow(tx, plan.job, revision: plan.job.revision) }
            try await Self.appendEvents(tx, job: id, [plan.event])
            if let record = plan.auditRecord {
                tx.audits.append(record)
                try await tx.run(
                    """
                    UPDATE credentials SET state = \(CredentialState.active.rawValue), updated_at = \(now.timeIntervalSinceReferenceDate)
                    WHERE id = \(plan.job.credentialID.rawValue) AND state = \(CredentialState.rotating.rawValue)
                    """
                )
            }
            try await self.enqueueEvents(&tx, reporting: plan.job, since: baseline)
            // The job's holder, wherever it runs, should start the rollback now.
            try await Self.notifyJobs(tx)
            if plan.finishes { try await self.notifyFinished(tx, id) }
            if plan.rewritesJob { try await self.notifyServedKey(tx, plan.job.credentialID) }
            return plan
        }
        if plan.finishes { self.notifyFinishedJobObservers(id) }
        if plan.rewritesJob { self.notifyServedKeyObservers(plan.job.credentialID) }
        return plan.job
    }

    // MARK: Helpers

    /// Writes every column of `credential` over its row.
    private static func updateCredentialRow(_ tx: Transaction, _ credential: Credential) async throws {
        let sql = SQL("UPDATE credentials SET ")
        let values = try RowCoding.values(credential)
        sql.append(
            zip(RowCoding.credentialColumns, values).dropFirst().map { column, value in "\(column) = \(sql.bind(value))" }
                .joined(separator: ", "))
        sql.append(" WHERE id = \(sql.bind(.text(credential.id.rawValue))) RETURNING id")
        var updated = false
        let unique = try await tx.unlessUniqueViolation { updated = try await !tx.rows(sql).isEmpty }
        guard unique else { throw StoreError(.duplicateName, message: "a credential named '\(credential.name)' already exists") }
        guard updated else { throw StoreError.credentialNotFound(credential.id) }
    }

    /// Writes only what a rotation changes (state, version, keys, times), so that labels,
    /// schedule and targets patched during a rotation are not overwritten by the engine.
    private static func updateRotationColumns(_ tx: Transaction, _ credential: Credential) async throws {
        try await Self.rescheduleIfRotated(tx, credential)
        let updated = try await tx.rows(try Prepared.UpdateRotationColumns(credential))
        guard !updated.isEmpty else { throw StoreError.credentialNotFound(credential.id) }
    }

    /// Writes `job`'s values and `revision` over its row; a terminal job's lease goes with it.
    private static func updateJobRow(_ tx: Transaction, _ job: Job, revision: Int) async throws {
        try await tx.run(try Prepared.UpdateJob(job, revision: revision))
    }

    static func fetchCredential(_ tx: Transaction, _ id: CredentialID, lock: Bool = false) async throws -> Credential? {
        // FOR NO KEY UPDATE: a writer's lock that still lets other transactions insert jobs
        // referencing the credential (their foreign-key check takes a key-share lock).
        let query: PostgresQuery =
            lock
            ? "SELECT * FROM credentials WHERE id = \(id.rawValue) FOR NO KEY UPDATE"
            : "SELECT * FROM credentials WHERE id = \(id.rawValue)"
        return try await tx.rows(query).first.map(RowCoding.credential(from:))
    }

    /// The credential that already holds `key` (``HeldKey``), if any.
    static func credentialHolding(_ tx: Transaction, _ key: HeldKey) async throws -> CredentialID? {
        try await tx.rows(
            """
            SELECT id FROM credentials
            WHERE current_key_sha256 = \(key.currentKeySHA256)
               OR (provider = \(key.provider) AND (
                    (current_key::jsonb ->> 'provider_key_id') = ANY(\(key.providerKeyIDs))
                    OR (previous_key::jsonb ->> 'provider_key_id') = ANY(\(key.providerKeyIDs))
                    OR (current_key::jsonb ->> 'fingerprint') = ANY(\(key.fingerprints))
                    OR (previous_key::jsonb ->> 'fingerprint') = ANY(\(key.fingerprints))))
            UNION ALL
            SELECT j.credential_id FROM jobs j JOIN credentials c ON c.id = j.credential_id
            WHERE j.state IN ('queued', 'running') AND j.new_key IS NOT NULL AND c.provider = \(key.provider)
              AND ((j.new_key::jsonb ->> 'provider_key_id') = ANY(\(key.providerKeyIDs))
                   OR (j.new_key::jsonb ->> 'fingerprint') = ANY(\(key.fingerprints)))
            LIMIT 1
            """
        ).first.map { CredentialID(unchecked: try $0.string("id")) }
    }

    static func fetchJob(_ tx: Transaction, _ id: JobID, lock: Bool = false) async throws -> Job? {
        let query: PostgresQuery =
            lock ? "SELECT * FROM jobs WHERE id = \(id.rawValue) FOR UPDATE" : "SELECT * FROM jobs WHERE id = \(id.rawValue)"
        return try await tx.rows(query).first.map(RowCoding.job(from:))
    }

    static func activeJobID(_ tx: Transaction, credential: CredentialID) async throws -> JobID? {
        try await tx.rows(
            "SELECT id FROM jobs WHERE credential_id = \(credential.rawValue) AND state IN ('queued', 'running') LIMIT 1"
        ).first.map { JobID(unchecked: try $0.string("id")) }
    }

    /// Appends to the job's timeline. Callers hold the job's row lock (or just inserted it), so
    /// the numbering cannot race.
    static func appendEvents(_ tx: Transaction, job: JobID, _ events: [JobEvent]) async throws {
        guard !events.isEmpty else { return }
        try await tx.run(Prepared.AppendEvents(job: job, events))
    }

    /// Tells every listening instance that a job may be runnable; sent when the transaction commits.
    static func notifyJobs(_ tx: Transaction) async throws {
        try await tx.run("SELECT pg_notify(\(Self.jobsChannel), current_schema() || '|')")
    }

    /// Tells the other instances that `job` became terminal; sent when the transaction commits.
    /// This instance's own observers are called once the commit has returned.
    func notifyFinished(_ tx: Transaction, _ job: JobID) async throws {
        try await tx.run(
            "SELECT pg_notify(\(Self.finishedJobsChannel), current_schema() || '|' || \(self.instanceToken) || '|' || \(job.rawValue))")
    }

    /// Tells the other instances that the key `credential` serves may have changed; sent when
    /// the transaction commits. This instance's own observers are called once the commit has returned.
    func notifyServedKey(_ tx: Transaction, _ credential: CredentialID) async throws {
        try await tx.run(
            "SELECT pg_notify(\(Self.servedKeysChannel), current_schema() || '|' || \(self.instanceToken) || '|' || \(credential.rawValue))")
    }
}

extension PostgresConnection.Configuration {
    /// A single connection to the server `url` names, as the pool connects.
    init(_ url: PostgresURL) throws {
        let tls: PostgresConnection.Configuration.TLS =
            switch (url.tlsMode, try url.makeTLSConfiguration()) {
            case (_, nil): .disable
            case (.prefer, let configuration?): .prefer(try NIOSSLContext(configuration: configuration))
            case (_, let configuration?): .require(try NIOSSLContext(configuration: configuration))
            }
        self.init(host: url.host, port: url.port, username: url.username, password: url.password, database: url.database, tls: tls)
        self.options.connectTimeout = .seconds(5)
        if let searchPath = url.searchPath {
            self.options.additionalStartupParameters = [("search_path", searchPath)]
        }
    }
}
