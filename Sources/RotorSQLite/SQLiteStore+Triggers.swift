public import Foundation
import GRDB
public import RotorCore
import RotorCrypto
import RotorStorage

extension SQLiteStore {
    /// `v2-triggers`: inbound triggers, their replay log, and the leaked-key index on credentials.
    static func registerTriggerMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2-triggers") { db in
            try db.execute(
                sql: """
                    -- Secrets live in `secrets` (owner = trigger id), sealed like every other.
                    CREATE TABLE triggers (
                        id TEXT PRIMARY KEY NOT NULL,
                        scheme TEXT NOT NULL,
                        credential_ids TEXT NOT NULL,
                        description TEXT,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL,
                        previous_secret_expires_at REAL
                    );
                    CREATE INDEX triggers_by_created_at ON triggers(created_at, id);

                    -- What each delivery answered, so a replay within 24 h answers the same and
                    -- starts nothing (DESIGN.md §4).
                    CREATE TABLE hook_deliveries (
                        trigger_id TEXT NOT NULL REFERENCES triggers(id) ON DELETE CASCADE,
                        delivery_id TEXT NOT NULL,
                        received_at REAL NOT NULL,
                        job_ids TEXT NOT NULL,
                        PRIMARY KEY (trigger_id, delivery_id)
                    );
                    CREATE INDEX hook_deliveries_by_received_at ON hook_deliveries(received_at);

                    -- Hex SHA-256 of the credential's current key, kept by putSecret whenever the
                    -- current key changes, so a leak report is matched by an index lookup rather
                    -- than by decrypting every key. Filled for existing rows at open
                    -- (backfillCurrentKeyDigests): a migration has no keyring.
                    ALTER TABLE credentials ADD COLUMN current_key_sha256 TEXT;
                    CREATE INDEX credentials_by_current_key_sha256 ON credentials(current_key_sha256);
                    """
            )
        }
    }

    /// Keeps `credentials.current_key_sha256` equal to the digest of `owner`'s current key (nil
    /// when cleared). Called in the transaction that writes the key.
    static func indexCurrentKey(_ db: Database, owner: String, _ secret: Secret?) throws {
        guard CredentialID(owner) != nil else { return }
        try db.run(
            sql: "UPDATE credentials SET current_key_sha256 = ? WHERE id = ?",
            arguments: [secret.map { SHA256.hexDigest($0.reveal()) }, owner]
        )
    }

    /// Computes the index for credentials stored before it existed (once; later writes keep it).
    static func backfillCurrentKeyDigests(_ pool: DatabasePool, keyring: Keyring) throws {
        try pool.write { db in
            let rows = try db.fetchRows("""
                    SELECT c.id, s.version, s.envelope FROM credentials c
                    JOIN secrets s ON s.owner_id = c.id AND s.field = ? AND s.envelope IS NOT NULL
                    WHERE c.current_key_sha256 IS NULL
                    """,
                arguments: [EnvelopeField.currentKey]
            )
            for row in rows {
                let id = try row.decode(String.self, forColumn: "id")
                let plaintext = try StoredEnvelope(
                    owner: id, field: EnvelopeField.currentKey, version: try row.decode(Int.self, forColumn: "version"),
                    bytes: Array(try row.decode(Data.self, forColumn: "envelope"))
                ).openBytes(keyring: keyring)
                try db.execute(
                    sql: "UPDATE credentials SET current_key_sha256 = ? WHERE id = ?",
                    arguments: [SHA256.hexDigest(plaintext), id]
                )
            }
        }
    }
}

extension SQLiteStore: TriggerStore {
    // MARK: Triggers

    public func createTrigger(_ trigger: WebhookTrigger, secret: Secret) async throws {
        try await self.writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO triggers (id, scheme, credential_ids, description, created_at, updated_at, previous_secret_expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    trigger.id.rawValue, trigger.scheme.rawValue, try RowCoding.json(trigger.credentialIDs), trigger.description,
                    RowCoding.time(trigger.createdAt), RowCoding.time(trigger.updatedAt), RowCoding.time(trigger.previousSecretExpiresAt),
                ]
            )
            try self.putSecret(db, owner: trigger.id.rawValue, field: EnvelopeField.triggerSecret, secret)
        }
    }

    public func trigger(_ id: TriggerID) async throws -> WebhookTrigger? {
        try await self.reads.read { db in try Self.fetchTrigger(db, id) }
    }

    public func triggers(_ page: PageRequest) async throws -> Page<WebhookTrigger> {
        let after = try TimeKeyset.triggers.after(page.cursor)
        return try await self.scans.read { db in
            try Self.page(db, .triggers, after: after, limit: page.limit, select: "SELECT * FROM triggers", decode: RowCoding.trigger(from:))
        }
    }

    public func deleteTrigger(_ id: TriggerID) async throws {
        try await self.writer.write { db in
            try db.execute(sql: "DELETE FROM triggers WHERE id = ?", arguments: [id.rawValue])
            guard db.changesCount > 0 else { throw Self.triggerNotFound(id) }
            // Its replay log goes by ON DELETE CASCADE; its secrets have no foreign key.
            try db.execute(sql: "DELETE FROM secrets WHERE owner_id = ?", arguments: [id.rawValue])
        }
    }

    public func triggerSecrets(_ id: TriggerID, at now: Date) async throws -> [Secret] {
        try await self.reads.read { db in
            guard let trigger = try Self.fetchTrigger(db, id) else { throw Self.triggerNotFound(id) }
            var secrets: [Secret] = []
            if let current = try self.fetchSecret(db, owner: id.rawValue, field: EnvelopeField.triggerSecret) {
                secrets.append(current)
            }
            if let expiresAt = trigger.previousSecretExpiresAt, expiresAt > now,
                let previous = try self.fetchSecret(db, owner: id.rawValue, field: EnvelopeField.triggerPreviousSecret)
            {
                secrets.append(previous)
            }
            return secrets
        }
    }

    public func rollTriggerSecret(_ id: TriggerID, to secret: Secret, previousValidUntil: Date, at now: Date) async throws -> WebhookTrigger {
        try await self.writer.write { db in
            guard var trigger = try Self.fetchTrigger(db, id) else { throw Self.triggerNotFound(id) }
            let owner = id.rawValue
            if let current = try self.fetchSecret(db, owner: owner, field: EnvelopeField.triggerSecret) {
                try self.putSecret(db, owner: owner, field: EnvelopeField.triggerPreviousSecret, current)
            }
            try self.putSecret(db, owner: owner, field: EnvelopeField.triggerSecret, secret)
            trigger.previousSecretExpiresAt = previousValidUntil
            trigger.updatedAt = now
            try db.execute(
                sql: "UPDATE triggers SET previous_secret_expires_at = ?, updated_at = ? WHERE id = ?",
                arguments: [RowCoding.time(previousValidUntil), RowCoding.time(now), owner]
            )
            return trigger
        }
    }

    // MARK: Replays

    public func hookDelivery(_ trigger: TriggerID, deliveryID: String, since: Date) async throws -> [JobID]? {
        try await self.reads.read { db in
            try Self.fetchDelivery(db, trigger, deliveryID, since: since)
        }
    }

    public func recordHookDelivery(_ trigger: TriggerID, deliveryID: String, jobs: [JobID], at now: Date, since: Date) async throws -> [JobID] {
        try await self.writer.write { db in
            // Only this delivery's own stale record goes here; other old records are retention's
            // (RetentionStore), in batches.
            try db.execute(
                sql: "DELETE FROM hook_deliveries WHERE trigger_id = ? AND delivery_id = ? AND received_at < ?",
                arguments: [trigger.rawValue, deliveryID, RowCoding.time(since)])
            if let first = try Self.fetchDelivery(db, trigger, deliveryID, since: since) {
                return first
            }
            try db.execute(
                sql: "INSERT INTO hook_deliveries (trigger_id, delivery_id, received_at, job_ids) VALUES (?, ?, ?, ?)",
                arguments: [trigger.rawValue, deliveryID, RowCoding.time(now), try RowCoding.json(jobs)]
            )
            return jobs
        }
    }

    // MARK: Leaked keys

    public func credentialIDs(currentKeySHA256 digests: [String]) async throws -> [String: CredentialID] {
        guard !digests.isEmpty else { return [:] }
        return try await self.scans.read { db in
            var found: [String: CredentialID] = [:]
            // One indexed lookup per digest; a report holds a handful of tokens.
            for digest in Set(digests) {
                if let id = try String.fetchOne(
                    db, sql: "SELECT id FROM credentials WHERE current_key_sha256 = ? LIMIT 1", arguments: [digest])
                {
                    found[digest] = CredentialID(unchecked: id)
                }
            }
            return found
        }
    }

    public func expediteJob(_ id: JobID, at now: Date, event: JobEvent) async throws -> Job? {
        try await self.writer.write { db in
            guard let job = try Self.fetchJob(db, id) else { return nil }
            let graceRunning = job.graceEndsAt.map { $0 > now } ?? false
            // From revoke on the old key is going anyway; a rollback keeps it.
            guard !job.state.isTerminal, job.step.canRollBack, !job.gracePeriod.isZero || graceRunning else {
                return job
            }
            let time = RowCoding.time(now)
            try db.execute(
                sql: """
                    UPDATE jobs SET grace_period = :zero,
                        grace_ends_at = CASE WHEN grace_ends_at > :now THEN :now ELSE grace_ends_at END,
                        next_attempt_at = CASE WHEN step = 'grace' AND next_attempt_at > :now THEN :now ELSE next_attempt_at END,
                        updated_at = :now, revision = revision + 1
                    WHERE id = :id
                    """,
                arguments: ["zero": ISODuration.zero.description, "now": time, "id": id.rawValue]
            )
            try Self.appendEvents(db, job: id, [event])
            return try Self.fetchJob(db, id)
        }
    }

    // MARK: Helpers

    private static func triggerNotFound(_ id: TriggerID) -> StoreError {
        StoreError(.notFound, message: "no trigger \(id)")
    }

    private static func fetchTrigger(_ db: Database, _ id: TriggerID) throws -> WebhookTrigger? {
        try db.fetchOne("SELECT * FROM triggers WHERE id = ?", arguments: [id.rawValue], as: RowCoding.trigger(from:))
    }

    private static func fetchDelivery(_ db: Database, _ trigger: TriggerID, _ deliveryID: String, since: Date) throws -> [JobID]? {
        guard
            let row = try db.fetchRow("SELECT job_ids FROM hook_deliveries WHERE trigger_id = ? AND delivery_id = ? AND received_at >= ?",
                arguments: [trigger.rawValue, deliveryID, RowCoding.time(since)])
        else { return nil }
        return try RowCoding.decodeJSON([JobID].self, row, "job_ids")
    }
}
