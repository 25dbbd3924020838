public import Foundation
import GRDB
public import RotorCore
public import RotorCrypto
import RotorStorage
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The embedded ``Store``: one SQLite database in WAL mode through GRDB.
///
/// Every read runs in a read transaction on a thread of a ``ReadExecutor``: point reads on one,
/// reads of many rows (pages, counts, scans) on another, so a long list never holds up the point
/// reads queued behind it. Every write is one
/// savepoint in a transaction on GRDB's serial writer queue, which concurrent writes share (group
/// commit, see ``GroupCommitWriter``). No SQLite call after opening runs on, or blocks, a Swift
/// concurrency thread (STYLE.md rule 9; ``ReadExecutor`` says why). Secrets are kept only as envelopes sealed
/// under the keyring's active KEK and bound to (owner id, field, version) (DESIGN.md §3); the
/// database file and its `-wal`/`-shm` companions are mode 0600.
public final class SQLiteStore: Store {
    let pool: DatabasePool
    /// Every write after migration goes through it, so concurrent writes share one fsync.
    let writer: GroupCommitWriter
    /// Point reads (one job, credential, token…), on a thread of their own (``ReadExecutor``).
    let reads: ReadExecutor
    /// Reads of many rows (pages, counts, scans), on another, so they never hold up a point read.
    let scans: ReadExecutor
    /// Tokens as read, until deleted.
    let tokenCache = TokenCache()
    /// Job rows decoded earlier, reused while their columns are unchanged (``DecodedRows``).
    let decodedJobs = DecodedRows<Job>()
    public let keyring: Keyring
    /// Called after a transaction that wrote outbox rows (``SubscriptionStore/observeOutbox(_:)``).
    let outboxObservers = Mutex<[@Sendable () -> Void]>([])
    /// Called after a transaction that made a job terminal (``Store/observeFinishedJobs(_:)``).
    let finishedJobObservers = Mutex<[@Sendable (JobID?) -> Void]>([])
    let servedKeyObservers = Mutex<[@Sendable (CredentialID?) -> Void]>([])

    /// The writer connection's `PRAGMA synchronous` (2 is FULL).
    package func synchronousSetting() async throws -> Int {
        try await self.writer.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    ///
    /// - Throws: ``SQLiteStoreError`` when the file cannot be created or secured, or GRDB's
    ///   `DatabaseError` when SQLite cannot open or migrate it.
    public init(path: String, keyring: Keyring) throws {
        try Self.secureFile(at: path, create: true)
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        configuration.label = "rotor.store"
        // Every read runs on the thread of `reads` or `scans`, each holding one reader at a time.
        configuration.maximumReaderCount = 2
        let pool = try DatabasePool(path: path, configuration: configuration)
        // GRDB leaves WAL databases at `synchronous = NORMAL`, which survives a crashed process
        // but not a crashed machine: the last commits can vanish while their effects at the
        // provider (a key created, a key deleted) remain. FULL syncs the log on every commit, so
        // an intent is on disk before its effect; group commit (``GroupCommitWriter``) shares
        // each sync among the writes that arrive meanwhile. Only the writer connection commits.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        try Self.migrator.migrate(pool)
        try Self.backfillCurrentKeyDigests(pool, keyring: keyring)
        // SQLite copies the database's mode to the files it creates next to it; make sure anyway,
        // since they hold the same pages.
        for suffix in ["-wal", "-shm"] {
            try Self.secureFile(at: path + suffix, create: false)
        }
        self.pool = pool
        self.writer = GroupCommitWriter(pool: pool)
        self.reads = ReadExecutor(pool: pool, label: "rotor.read")
        self.scans = ReadExecutor(pool: pool, label: "rotor.scan")
        self.keyring = keyring
    }

    deinit {
        self.reads.close()
        self.scans.close()
    }

    /// Opens the store as ``init(path:keyring:)`` does, on a thread of its own, for callers in async
    /// code (named like `PostgresStore.connect`).
    ///
    /// Opening migrates the file and syncs every step: tens of milliseconds of waiting on the
    /// disk. On one of Swift's concurrency threads that wait holds up every task behind it (STYLE.md
    /// rule 9), and on Linux a `DispatchQueue.global()` worker is no better: Swift's tasks run
    /// on the same pool, which adds a thread for a blocked one only when its monitor next looks,
    /// so a test run that opened dozens of stores at once stalled every task for seconds.
    public static func connect(path: String, keyring: Keyring) async throws -> SQLiteStore {
        try await withCheckedThrowingContinuation { continuation in
            Thread.start(named: "rotor.open") { continuation.resume(with: Result { try SQLiteStore(path: path, keyring: keyring) }) }
        }
    }


    /// Creates `path` with mode 0600 if it is absent (and `create`), or takes group and other
    /// permissions away from an existing file.
    private static func secureFile(at path: String, create: Bool) throws {
        if create {
            let descriptor = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
            if descriptor >= 0 {
                close(descriptor)
                return
            }
            guard errno == EEXIST else { throw SQLiteStoreError("cannot create \(path): \(Self.lastError())") }
        }
        var status = stat()
        guard stat(path, &status) == 0 else {
            if !create && errno == ENOENT { return }
            throw SQLiteStoreError("cannot inspect \(path): \(Self.lastError())")
        }
        if status.st_mode & 0o077 != 0 {
            guard chmod(path, 0o600) == 0 else {
                throw SQLiteStoreError("cannot restrict \(path) to mode 0600: \(Self.lastError())")
            }
        }
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }

    // MARK: Credentials

    public func createCredential(_ credential: Credential, secrets: CredentialSecrets) async throws {
        let key = HeldKey(credential, currentKeySHA256: SHA256.hexDigest(secrets.current.reveal()))
        try await self.writer.write { db in
            // SQLite runs one write at a time: no registration or commit slips in between.
            if let holder = try Self.credentialHolding(db, key) { throw key.refusal(heldBy: holder) }
            do {
                try db.run(
                    sql: """
                        INSERT INTO credentials (\(RowCoding.credentialColumns.joined(separator: ", ")))
                        VALUES (\(Self.placeholders(RowCoding.credentialColumns.count)))
                        """,
                    arguments: StatementArguments(try RowCoding.values(credential))
                )
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                throw StoreError(.duplicateName, message: "a credential named '\(credential.name)' already exists")
            }
            let owner = credential.id.rawValue
            try self.putSecret(db, owner: owner, field: EnvelopeField.currentKey, secrets.current)
            if let previous = secrets.previous {
                try self.putSecret(db, owner: owner, field: EnvelopeField.previousKey, previous)
            }
            for (target, secret) in secrets.signingSecrets {
                try self.putSecret(db, owner: owner, field: EnvelopeField.signingSecret(target), secret)
            }
        }
    }

    public func credential(_ id: CredentialID) async throws -> Credential? {
        try await self.reads.read { db in try Self.fetchCredential(db, id) }
    }

    public func credentials(_ page: PageRequest) async throws -> Page<Credential> {
        let after = try page.cursor.map { try PageCursor.decodeName($0) }
        return try await self.scans.read { db in
            var sql = "SELECT * FROM credentials"
            var arguments: StatementArguments = []
            if let after {
                sql += " WHERE name > ?"
                arguments += [after]
            }
            sql += " ORDER BY name LIMIT ?"
            arguments += [page.limit + 1]
            let rows = try db.fetchAll(sql, arguments: arguments, as: RowCoding.credential(from:))
            return Page(rows, limit: page.limit) { PageCursor.encode(name: $0.name) }
        }
    }

    public func credentialSecrets(_ id: CredentialID) async throws -> CredentialSecrets {
        try await self.reads.read { db in
            guard try Self.fetchCredential(db, id) != nil else { throw StoreError.credentialNotFound(id) }
            return try self.fetchCredentialSecrets(db, id)
        }
    }

    public func updateCredential(_ credential: Credential, signingSecrets: [TargetID: Secret]?, ifUnmodifiedSince: Date?) async throws {
        try await self.writer.write { db in
            if let ifUnmodifiedSince {
                guard let stored = try Self.fetchCredential(db, credential.id) else { throw StoreError.credentialNotFound(credential.id) }
                guard stored.updatedAt == ifUnmodifiedSince else {
                    throw StoreError(.conflict, message: "credential \(credential.id) changed since it was read")
                }
            }
            try Self.updateCredentialRow(db, credential)

            guard let signingSecrets else { return }
            let owner = credential.id.rawValue
            let kept = Set(signingSecrets.keys.map(EnvelopeField.signingSecret))
            let stored = try String.fetchAll(cached: db, sql: "SELECT field FROM secrets WHERE owner_id = ? AND field GLOB ? AND envelope IS NOT NULL",
                arguments: [owner, EnvelopeField.signingSecretPrefix + "*"]
            )
            for field in stored where !kept.contains(field) {
                try self.deleteSecret(db, owner: owner, field: field)
            }
            for (target, secret) in signingSecrets {
                try self.putSecret(db, owner: owner, field: EnvelopeField.signingSecret(target), secret)
            }
        }
    }

    public func deleteCredential(_ id: CredentialID) async throws {
        try await self.writer.write { db in
            guard try Self.fetchCredential(db, id) != nil else { throw StoreError.credentialNotFound(id) }
            if let active = try Self.activeJobID(db, credential: id) {
                throw StoreError(
                    .rotationInProgress, jobID: active,
                    message: "credential \(id) has an active rotation job \(active)")
            }
            try db.run(
                sql: """
                    DELETE FROM secrets
                    WHERE owner_id = ? OR owner_id IN (SELECT id FROM jobs WHERE credential_id = ?)
                    """,
                arguments: [id.rawValue, id.rawValue]
            )
            // Finished jobs and their events go with it (ON DELETE CASCADE).
            try db.run(sql: "DELETE FROM credentials WHERE id = ?", arguments: [id.rawValue])
        }
    }

    // MARK: Jobs

    public func createJob(
        _ new: NewJob, idempotencyKey: String?, requestFingerprint: String?, events: [JobEvent]
    ) async throws -> JobCreation {
        try await self.writer.write { db in
            if let idempotencyKey {
                // A key lasts 24 h: an older job gives it up, so it starts a new job.
                try db.run(
                    sql: "UPDATE jobs SET idempotency_key = NULL WHERE idempotency_key = ? AND created_at < ?",
                    arguments: [idempotencyKey, RowCoding.time(new.createdAt.addingTimeInterval(-NewJob.idempotencyLifetime))])
            }
            if let idempotencyKey,
                let row = try db.fetchRow("SELECT * FROM jobs WHERE idempotency_key = ?", arguments: [idempotencyKey])
            {
                let existing = try RowCoding.job(from: row)
                guard try row.decode(String?.self, forColumn: "request_fingerprint") == requestFingerprint else {
                    throw StoreError(
                        .idempotencyConflict,
                        message: "the idempotency key was already used with a different request (job \(existing.id))")
                }
                return .replayed(existing)
            }
            // SQLite runs one write at a time: the row read here is the one the insert commits
            // against, whatever other job of this credential committed just before.
            guard var credential = try Self.fetchCredential(db, new.credentialID) else {
                throw StoreError.credentialNotFound(new.credentialID)
            }
            guard credential.state != .disabled else { throw StoreError.credentialDisabled(new.credentialID) }
            let job = Job(new, credential: credential)

            var stored = job
            stored.revision = 1
            let columns = RowCoding.jobValueColumns + ["revision", "lease_owner", "lease_expires_at", "idempotency_key", "request_fingerprint"]
            let values =
                try RowCoding.values(stored) + [.int(stored.revision), .text(nil), .double(nil), .text(idempotencyKey), .text(requestFingerprint)]
            do {
                try db.run(
                    sql: "INSERT INTO jobs (\(columns.joined(separator: ", "))) VALUES (\(Self.placeholders(columns.count)))",
                    arguments: StatementArguments(values)
                )
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                if let active = try Self.activeJobID(db, credential: job.credentialID) {
                    throw StoreError(
                        .rotationInProgress, jobID: active,
                        message: "credential \(job.credentialID) already has an active rotation job \(active)")
                }
                throw error
            }
            try Self.appendEvents(db, job: stored.id, events)

            credential.state = .rotating
            credential.updatedAt = job.createdAt
            try db.run(
                sql: "UPDATE credentials SET state = ?, updated_at = ? WHERE id = ?",
                arguments: [credential.state.rawValue, RowCoding.time(credential.updatedAt), credential.id.rawValue]
            )
            return .created(stored)
        }
    }

    public func job(_ id: JobID) async throws -> Job? {
        try await self.reads.read { db in
            try db.fetchOne(Self.jobByID, arguments: [id.rawValue], as: self.decodedJob(from:))
        }
    }

    public func jobs(_ filter: JobFilter, _ page: PageRequest) async throws -> Page<Job> {
        let after = try TimeKeyset.jobs.after(page.cursor)
        return try await self.scans.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let credentialID = filter.credentialID {
                conditions.append("credential_id = ?")
                arguments += [credentialID.rawValue]
            }
            if let state = filter.state {
                conditions.append("state = ?")
                arguments += [state.rawValue]
            }
            return try Self.page(
                db, .jobs, after: after, limit: page.limit, select: "SELECT * FROM jobs", where: conditions, arguments: arguments,
                decode: self.decodedJob(from:))
        }
    }

    public func events(_ id: JobID) async throws -> [JobEvent] {
        try await self.reads.read { db in
            try db.fetchAll("SELECT * FROM job_events WHERE job_id = ? ORDER BY seq", arguments: [id.rawValue], as: RowCoding.event(from:))
        }
    }

    // MARK: Running jobs

    public func claimJobs(owner: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [JobID] {
        guard limit > 0 else { return [] }
        return try await self.writer.write { db in
            let ids = try String.fetchAll(cached: db, sql: """
                    SELECT id FROM jobs INDEXED BY jobs_unfinished_by_created_at
                    WHERE state IN ('queued', 'running')
                      AND (next_attempt_at IS NULL OR next_attempt_at <= :now)
                      AND (lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= :now)
                    ORDER BY created_at, id
                    LIMIT :limit
                    """,
                arguments: ["now": RowCoding.time(now), "limit": limit]
            )
            for id in ids {
                try db.run(
                    sql: "UPDATE jobs SET lease_owner = ?, lease_expires_at = ? WHERE id = ?",
                    arguments: [owner, RowCoding.time(leaseUntil), id]
                )
            }
            return ids.map(JobID.init(unchecked:))
        }
    }

    public func renewLease(_ id: JobID, owner: String, until: Date) async throws -> Bool {
        try await self.writer.write { db in
            try db.run(
                sql: "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND lease_owner = ?",
                arguments: [RowCoding.time(until), id.rawValue, owner]
            )
            return db.changesCount > 0
        }
    }

    public func releaseLease(_ id: JobID, owner: String) async throws {
        try await self.writer.write { db in
            try db.run(
                sql: "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ?",
                arguments: [id.rawValue, owner]
            )
        }
    }

    public func releaseLeases(owner: String) async throws {
        try await self.writer.write { db in
            try db.run(sql: "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ?", arguments: [owner])
        }
    }

    public func rotation(_ id: JobID) async throws -> Rotation {
        try await self.rotation(id, knownJob: nil)
    }

    public func rotation(_ id: JobID, knownJob: Job?) async throws -> Rotation {
        try await self.reads.read { db in
            // Every change to a job row bumps its revision, so a job the runner committed itself
            // is still exactly that job while the revision matches: no need to decode the row
            // (the engine's most frequent read, and most of its cost).
            let job: Job
            if let knownJob, knownJob.id == id,
                try Int.fetchOne(cached: db, sql: "SELECT revision FROM jobs WHERE id = ?", arguments: [id.rawValue]) == knownJob.revision
            {
                job = knownJob
            } else {
                guard let fetched = try Self.fetchJob(db, id) else { throw StoreError.jobNotFound(id) }
                job = fetched
            }
            guard let credential = try Self.fetchCredential(db, job.credentialID) else {
                throw StoreError.credentialNotFound(job.credentialID)
            }
            let secrets = try self.fetchCredentialSecrets(db, credential.id)
            let pending = try self.fetchSecret(db, owner: id.rawValue, field: EnvelopeField.pendingKey)
            return Rotation(job: job, credential: credential, secrets: secrets, pendingKey: pending)
        }
    }

    public func commit(_ commit: RotationCommit, owner: String) async throws {
        _ = try await self.writer.write { db -> CommitPlan in
            let id = commit.job.id
            guard
                let row = try db.fetchRow("SELECT lease_owner, revision, state, step FROM jobs WHERE id = ?", arguments: [id.rawValue])
            else { throw StoreError.jobNotFound(id) }
            let stored = JobGuard(
                leaseOwner: try row.decode(String?.self, forColumn: "lease_owner"),
                revision: try row.decode(Int.self, forColumn: "revision"),
                state: try RowCoding.enumValue(JobState.self, row, "state"), step: try RowCoding.enumValue(JobStep.self, row, "step"))
            let plan = try CommitPlan(commit, owner: owner, stored: stored)
            let baseline = try Self.outboxBaseline(db, credential: plan.job.credentialID, jobState: stored.state)
            try Self.updateJobRow(db, plan.job, revision: plan.revision)
            if let record = plan.auditRecord { try Self.appendAudit(db, record) }
            if let credential = plan.credential { try Self.updateRotationColumns(db, credential) }
            try self.enqueueEvents(db, reporting: plan.job, since: baseline)
            for write in plan.secrets { try self.apply(write, db) }
            try Self.appendEvents(db, job: id, plan.events)
            return plan
        } committed: { plan in
            // From the writer, once the batch is durable: the long-polls wake without waiting
            // for this caller (an engine job, at low priority) to be scheduled again.
            if plan.finishes { self.notifyFinishedJobObservers(commit.job.id) }
            if plan.movesJob { self.notifyServedKeyObservers(commit.job.credentialID) }
        }
    }

    public func requestCancel(_ id: JobID, at now: Date) async throws -> Job {
        let actor = Audit.actor
        let plan = try await self.writer.write { db -> CancelPlan in
            guard let stored = try Self.fetchJob(db, id) else { throw StoreError.jobNotFound(id) }
            let baseline = try Self.outboxBaseline(db, credential: stored.credentialID, jobState: stored.state)
            let plan = try CancelPlan(stored: stored, at: now, actor: actor)
            if plan.rewritesJob { try Self.updateJobRow(db, plan.job, revision: plan.job.revision) }
            try Self.appendEvents(db, job: id, [plan.event])
            if let record = plan.auditRecord {
                try Self.appendAudit(db, record)
                try db.run(
                    sql: "UPDATE credentials SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
                    arguments: [
                        CredentialState.active.rawValue, RowCoding.time(now), plan.job.credentialID.rawValue,
                        CredentialState.rotating.rawValue,
                    ]
                )
            }
            try self.enqueueEvents(db, reporting: plan.job, since: baseline)
            return plan
        }
        if plan.finishes { self.notifyFinishedJobObservers(id) }
        if plan.rewritesJob { self.notifyServedKeyObservers(plan.job.credentialID) }
        return plan.job
    }

    public func observeFinishedJobs(_ observer: @escaping @Sendable (JobID?) -> Void) {
        self.finishedJobObservers.withLock { $0.append(observer) }
    }

    private func notifyFinishedJobObservers(_ id: JobID) {
        for observer in self.finishedJobObservers.withLock({ $0 }) { observer(id) }
    }

    public func observeServedKeys(_ observer: @escaping @Sendable (CredentialID?) -> Void) {
        self.servedKeyObservers.withLock { $0.append(observer) }
    }

    private func notifyServedKeyObservers(_ id: CredentialID) {
        for observer in self.servedKeyObservers.withLock({ $0 }) { observer(id) }
    }

    // MARK: Helpers

    static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }

    /// Writes every column of `credential` over its row.
    private static func updateCredentialRow(_ db: Database, _ credential: Credential) throws {
        let assignments = RowCoding.credentialColumns.dropFirst().map { "\($0) = ?" }.joined(separator: ", ")
        let values = try RowCoding.values(credential)
        do {
            try db.run(
                sql: "UPDATE credentials SET \(assignments) WHERE id = ?",
                arguments: StatementArguments(Array(values.dropFirst()) + [values[0]])
            )
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw StoreError(.duplicateName, message: "a credential named '\(credential.name)' already exists")
        }
        guard db.changesCount > 0 else { throw StoreError.credentialNotFound(credential.id) }
    }

    /// Writes only what a rotation changes (state, version, keys, times), so that labels,
    /// schedule and targets patched during a rotation are not overwritten by the engine.
    private static func updateRotationColumns(_ db: Database, _ credential: Credential) throws {
        try Self.rescheduleIfRotated(db, credential)
        try db.run(
            sql: """
                UPDATE credentials SET state = ?, version = ?, current_key = ?, previous_key = ?,
                    last_rotated_at = ?, updated_at = ? WHERE id = ?
                """,
            arguments: [
                credential.state.rawValue, credential.version, try RowCoding.json(credential.current), try RowCoding.optionalJSON(credential.previous),
                RowCoding.time(credential.lastRotatedAt), RowCoding.time(credential.updatedAt), credential.id.rawValue,
            ]
        )
        guard db.changesCount > 0 else { throw StoreError.credentialNotFound(credential.id) }
    }

    private static let updateJobSQL = "UPDATE jobs SET \(RowCoding.jobMutableColumns.map { "\($0) = ?" }.joined(separator: ", ")), revision = ? WHERE id = ?"
    private static let updateFinishedJobSQL =
        "UPDATE jobs SET \(RowCoding.jobMutableColumns.map { "\($0) = ?" }.joined(separator: ", ")), revision = ?, lease_owner = NULL, lease_expires_at = NULL WHERE id = ?"

    /// Writes `job`'s values and `revision` over its row; a terminal job's lease goes with it.
    private static func updateJobRow(_ db: Database, _ job: Job, revision: Int) throws {
        try db.run(
            sql: job.state.isTerminal ? Self.updateFinishedJobSQL : Self.updateJobSQL,
            arguments: StatementArguments(try RowCoding.mutableValues(job) + [.int(revision), .text(job.id.rawValue)])
        )
    }

    /// The credential that already holds `key` (``HeldKey``), if any.
    static func credentialHolding(_ db: Database, _ key: HeldKey) throws -> CredentialID? {
        let ids = try RowCoding.json(key.providerKeyIDs)
        let fingerprints = try RowCoding.json(key.fingerprints)
        return try String.fetchOne(
            db,
            sql: """
                SELECT id FROM credentials
                WHERE current_key_sha256 = :digest
                   OR (provider = :provider AND (
                        json_extract(current_key, '$.provider_key_id') IN (SELECT value FROM json_each(:ids))
                        OR json_extract(previous_key, '$.provider_key_id') IN (SELECT value FROM json_each(:ids))
                        OR json_extract(current_key, '$.fingerprint') IN (SELECT value FROM json_each(:fingerprints))
                        OR json_extract(previous_key, '$.fingerprint') IN (SELECT value FROM json_each(:fingerprints))))
                UNION ALL
                SELECT j.credential_id FROM jobs j JOIN credentials c ON c.id = j.credential_id
                WHERE j.state IN ('queued', 'running') AND j.new_key IS NOT NULL AND c.provider = :provider
                  AND (json_extract(j.new_key, '$.provider_key_id') IN (SELECT value FROM json_each(:ids))
                       OR json_extract(j.new_key, '$.fingerprint') IN (SELECT value FROM json_each(:fingerprints)))
                LIMIT 1
                """,
            arguments: ["digest": key.currentKeySHA256, "provider": key.provider, "ids": ids, "fingerprints": fingerprints]
        ).map(CredentialID.init(unchecked:))
    }

    static func fetchCredential(_ db: Database, _ id: CredentialID) throws -> Credential? {
        try db.fetchOne("SELECT * FROM credentials WHERE id = ?", arguments: [id.rawValue], as: RowCoding.credential(from:))
    }

    static let jobByID = "SELECT * FROM jobs WHERE id = ?"

    /// A `jobs` row as a job, its decoding reused while the row is unchanged (``DecodedRows``).
    /// For reads outside write transactions; those decode afresh (``fetchJob(_:_:)``).
    func decodedJob(from row: StatementRow) throws -> Job {
        try self.decodedJobs.value(of: row, key: try row.string("id"), decode: RowCoding.job(from:))
    }

    static func fetchJob(_ db: Database, _ id: JobID) throws -> Job? {
        try db.fetchOne(Self.jobByID, arguments: [id.rawValue], as: RowCoding.job(from:))
    }

    static func activeJobID(_ db: Database, credential: CredentialID) throws -> JobID? {
        try String.fetchOne(cached: db, sql: "SELECT id FROM jobs WHERE credential_id = ? AND state IN ('queued', 'running') LIMIT 1",
            arguments: [credential.rawValue]
        ).map(JobID.init(unchecked:))
    }

    static func appendEvents(_ db: Database, job: JobID, _ events: [JobEvent]) throws {
        guard !events.isEmpty else { return }
        var seq =
            try Int.fetchOne(cached: db, sql: "SELECT MAX(seq) FROM job_events WHERE job_id = ?", arguments: [job.rawValue]) ?? 0
        for event in events {
            seq += 1
            try db.run(
                sql: "INSERT INTO job_events (job_id, seq, at, type, step, message) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [job.rawValue, seq, RowCoding.time(event.at), event.type, event.step?.rawValue, event.message]
            )
        }
    }
}

// MARK: - Secrets

extension SQLiteStore {
    /// Seals `secret` under the next version of (owner, field) and stores it in place of the old one.
    /// A credential's current key also updates the leaked-key index (`current_key_sha256`).
    func putSecret(_ db: Database, owner: String, field: String, _ secret: Secret) throws {
        let stored = try Int.fetchOne(cached: db, sql: "SELECT version FROM secrets WHERE owner_id = ? AND field = ?", arguments: [owner, field])
        let version = (stored ?? 0) + 1
        let envelope = try StoredEnvelope(sealing: secret, owner: owner, field: field, version: version, keyring: self.keyring).bytes
        try db.run(
            sql: """
                INSERT INTO secrets (owner_id, field, version, envelope) VALUES (?, ?, ?, ?)
                ON CONFLICT (owner_id, field) DO UPDATE SET version = excluded.version, envelope = excluded.envelope
                """,
            arguments: [owner, field, version, Data(envelope)]
        )
        if field == EnvelopeField.currentKey {
            try Self.indexCurrentKey(db, owner: owner, secret)
        }
    }

    /// Removes the value but keeps the row's version as a tombstone, so that a value set again
    /// later gets a version never used before and no older envelope can be put back in its place.
    func deleteSecret(_ db: Database, owner: String, field: String) throws {
        try db.run(sql: "UPDATE secrets SET envelope = NULL WHERE owner_id = ? AND field = ?", arguments: [owner, field])
        if field == EnvelopeField.currentKey {
            try Self.indexCurrentKey(db, owner: owner, nil)
        }
    }

    fileprivate func apply(_ write: SecretWrite, _ db: Database) throws {
        switch write.change {
        case .unchanged: return
        case .set(let secret): try self.putSecret(db, owner: write.owner, field: write.field, secret)
        case .clear: try self.deleteSecret(db, owner: write.owner, field: write.field)
        }
    }

    func fetchSecret(_ db: Database, owner: String, field: String) throws -> Secret? {
        guard
            let row = try db.fetchRow("SELECT version, envelope FROM secrets WHERE owner_id = ? AND field = ? AND envelope IS NOT NULL",
                arguments: [owner, field])
        else { return nil }
        return try self.openSecret(row, owner: owner, field: field)
    }

    private func openSecret(_ row: SQLiteRow, owner: String, field: String) throws -> Secret {
        let envelope = StoredEnvelope(
            owner: owner, field: field, version: try row.decode(Int.self, forColumn: "version"), bytes: Array(try row.decode(Data.self, forColumn: "envelope")))
        return try envelope.open(keyring: self.keyring)
    }

    /// The credential's secrets; a credential without a stored current key is corrupt.
    fileprivate func fetchCredentialSecrets(_ db: Database, _ id: CredentialID) throws -> CredentialSecrets {
        let owner = id.rawValue
        let rows = try db.fetchRows("SELECT field, version, envelope FROM secrets WHERE owner_id = ? AND envelope IS NOT NULL", arguments: [owner])
        let fields = try rows.map { row in
            let field = try row.decode(String.self, forColumn: "field")
            return (field, try self.openSecret(row, owner: owner, field: field))
        }
        guard let secrets = CredentialSecrets(fields: fields) else {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "credential \(id) has no stored current key")
        }
        return secrets
    }
}

extension SQLiteStore: JobNotifications {
    /// One process owns an SQLite database, and its engine is woken in-process when a job becomes
    /// runnable, so there is nobody else to hear from.
    public func observeJobs(_ observer: @escaping @Sendable () -> Void) {}
}
