public import Foundation
import PostgresNIO
public import RotorCore
import RotorCrypto
import RotorStorage

extension PostgresStore {
    /// `v2-triggers`: inbound triggers, their replay log, and the leaked-key index on credentials.
    static let triggerMigration = Migration(
        version: "v2-triggers",
        statements: [
            // Secrets live in `secrets` (owner = trigger id), sealed like every other.
            """
            CREATE TABLE triggers (
                id text PRIMARY KEY,
                scheme text NOT NULL,
                credential_ids text NOT NULL,
                description text,
                created_at double precision NOT NULL,
                updated_at double precision NOT NULL,
                previous_secret_expires_at double precision
            )
            """,
            "CREATE INDEX triggers_by_created_at ON triggers(created_at, id)",
            // What each delivery answered, so a replay within 24 h answers the same and starts
            // nothing (DESIGN.md §4).
            """
            CREATE TABLE hook_deliveries (
                trigger_id text NOT NULL REFERENCES triggers(id) ON DELETE CASCADE,
                delivery_id text NOT NULL,
                received_at double precision NOT NULL,
                job_ids text NOT NULL,
                PRIMARY KEY (trigger_id, delivery_id)
            )
            """,
            "CREATE INDEX hook_deliveries_by_received_at ON hook_deliveries(received_at)",
            // Hex SHA-256 of the credential's current key, kept by putSecret in the transaction
            // that changes the current key, so a leak report is matched by an index lookup rather
            // than by decrypting every key. Filled for existing rows at connect
            // (backfillCurrentKeyDigests): a migration has no keyring.
            "ALTER TABLE credentials ADD COLUMN current_key_sha256 text",
            "CREATE INDEX credentials_by_current_key_sha256 ON credentials(current_key_sha256)",
        ]
    )

    /// Keeps `credentials.current_key_sha256` equal to the digest of `owner`'s current key (nil
    /// when cleared). Called in the transaction that writes the key.
    static func indexCurrentKey(_ tx: Transaction, owner: String, _ secret: Secret?) async throws {
        guard CredentialID(owner) != nil else { return }
        let digest = secret.map { SHA256.hexDigest($0.reveal()) }
        try await tx.run(Prepared.IndexCurrentKey(credential: owner, digest: digest))
    }

    /// Computes the index for credentials stored before it existed (once; later writes keep it).
    func backfillCurrentKeyDigests() async throws {
        try await self.write { tx in
            let rows = try await tx.rows(
                """
                SELECT c.id, s.version, s.envelope FROM credentials c
                JOIN secrets s ON s.owner_id = c.id AND s.field = \(EnvelopeField.currentKey) AND s.envelope IS NOT NULL
                WHERE c.current_key_sha256 IS NULL
                FOR UPDATE OF c
                """
            )
            for row in rows {
                let id = try row.string("id")
                let plaintext = try StoredEnvelope(
                    owner: id, field: EnvelopeField.currentKey, version: try row.int("version"), bytes: try row.bytes("envelope")
                ).openBytes(keyring: self.keyring)
                try await tx.run("UPDATE credentials SET current_key_sha256 = \(SHA256.hexDigest(plaintext)) WHERE id = \(id)")
            }
        }
    }
}

extension PostgresStore: TriggerStore {
    // MARK: Triggers

    public func createTrigger(_ trigger: WebhookTrigger, secret: Secret) async throws {
        let credentialIDs = try RowCoding.json(trigger.credentialIDs)
        try await self.write { tx in
            try await tx.run(
                """
                INSERT INTO triggers (id, scheme, credential_ids, description, created_at, updated_at, previous_secret_expires_at)
                VALUES (\(trigger.id.rawValue), \(trigger.scheme.rawValue), \(credentialIDs), \(trigger.description),
                    \(trigger.createdAt.timeIntervalSinceReferenceDate), \(trigger.updatedAt.timeIntervalSinceReferenceDate),
                    \(trigger.previousSecretExpiresAt?.timeIntervalSinceReferenceDate))
                """
            )
            try await self.putSecret(tx, owner: trigger.id.rawValue, field: EnvelopeField.triggerSecret, secret)
        }
    }

    public func trigger(_ id: TriggerID) async throws -> WebhookTrigger? {
        try await self.read { tx in try await Self.fetchTrigger(tx, id) }
    }

    public func triggers(_ page: PageRequest) async throws -> Page<WebhookTrigger> {
        let after = try TimeKeyset.triggers.after(page.cursor)
        return try await self.read { tx in
            // COLLATE "C": byte order, as SQLite compares (see credentials(_:)).
            try await Self.page(
                tx, .triggers, after: after, limit: page.limit, SQL("SELECT * FROM triggers"), id: "id COLLATE \"C\"",
                decode: RowCoding.trigger(from:))
        }
    }

    public func deleteTrigger(_ id: TriggerID) async throws {
        try await self.write { tx in
            guard try await !tx.rows("DELETE FROM triggers WHERE id = \(id.rawValue) RETURNING id").isEmpty else {
                throw Self.triggerNotFound(id)
            }
            // Its replay log goes by ON DELETE CASCADE; its secrets have no foreign key.
            try await tx.run("DELETE FROM secrets WHERE owner_id = \(id.rawValue)")
        }
    }

    public func triggerSecrets(_ id: TriggerID, at now: Date) async throws -> [Secret] {
        try await self.read { tx in
            guard let trigger = try await Self.fetchTrigger(tx, id) else { throw Self.triggerNotFound(id) }
            var secrets: [Secret] = []
            if let current = try await self.fetchSecret(tx, owner: id.rawValue, field: EnvelopeField.triggerSecret) {
                secrets.append(current)
            }
            if let expiresAt = trigger.previousSecretExpiresAt, expiresAt > now,
                let previous = try await self.fetchSecret(tx, owner: id.rawValue, field: EnvelopeField.triggerPreviousSecret)
            {
                secrets.append(previous)
            }
            return secrets
        }
    }

    public func rollTriggerSecret(_ id: TriggerID, to secret: Secret, previousValidUntil: Date, at now: Date) async throws -> WebhookTrigger {
        try await self.write { tx in
            // The trigger's row lock orders concurrent rolls: each moves the current secret it saw.
            guard var trigger = try await Self.fetchTrigger(tx, id, lock: true) else { throw Self.triggerNotFound(id) }
            let owner = id.rawValue
            if let current = try await self.fetchSecret(tx, owner: owner, field: EnvelopeField.triggerSecret) {
                try await self.putSecret(tx, owner: owner, field: EnvelopeField.triggerPreviousSecret, current)
            }
            try await self.putSecret(tx, owner: owner, field: EnvelopeField.triggerSecret, secret)
            trigger.previousSecretExpiresAt = previousValidUntil
            trigger.updatedAt = now
            try await tx.run(
                """
                UPDATE triggers SET previous_secret_expires_at = \(previousValidUntil.timeIntervalSinceReferenceDate),
                    updated_at = \(now.timeIntervalSinceReferenceDate)
                WHERE id = \(owner)
                """
            )
            return trigger
        }
    }

    // MARK: Replays

    public func hookDelivery(_ trigger: TriggerID, deliveryID: String, since: Date) async throws -> [JobID]? {
        try await self.read { tx in try await Self.fetchDelivery(tx, trigger, deliveryID, since: since) }
    }

    public func recordHookDelivery(_ trigger: TriggerID, deliveryID: String, jobs: [JobID], at now: Date, since: Date) async throws -> [JobID] {
        let jobIDs = try RowCoding.json(jobs)
        return try await self.write { tx in
            // Old records of other deliveries are retention's (RetentionStore), in batches. A
            // concurrent duplicate (this instance or another) inserts first or waits on the key:
            // either way one row wins, and the loser answers with the winner's jobs.
            let inserted = try await tx.rows(
                """
                INSERT INTO hook_deliveries (trigger_id, delivery_id, received_at, job_ids)
                VALUES (\(trigger.rawValue), \(deliveryID), \(now.timeIntervalSinceReferenceDate), \(jobIDs))
                ON CONFLICT (trigger_id, delivery_id) DO NOTHING
                RETURNING delivery_id
                """
            )
            if !inserted.isEmpty { return jobs }
            guard let first = try await Self.fetchDelivery(tx, trigger, deliveryID, since: since) else {
                // The row in the way is older than `since`: it no longer counts, so this delivery
                // takes its place.
                try await tx.run(
                    """
                    UPDATE hook_deliveries SET received_at = \(now.timeIntervalSinceReferenceDate), job_ids = \(jobIDs)
                    WHERE trigger_id = \(trigger.rawValue) AND delivery_id = \(deliveryID)
                    """
                )
                return jobs
            }
            return first
        }
    }

    // MARK: Leaked keys

    public func credentialIDs(currentKeySHA256 digests: [String]) async throws -> [String: CredentialID] {
        guard !digests.isEmpty else { return [:] }
        return try await self.read { tx in
            var found: [String: CredentialID] = [:]
            // One indexed lookup per digest; a report holds a handful of tokens.
            for digest in Set(digests) {
                if let row = try await tx.rows("SELECT id FROM credentials WHERE current_key_sha256 = \(digest) LIMIT 1").first {
                    found[digest] = CredentialID(unchecked: try row.string("id"))
                }
            }
            return found
        }
    }

    public func expediteJob(_ id: JobID, at now: Date, event: JobEvent) async throws -> Job? {
        try await self.write { tx in
            guard let job = try await Self.fetchJob(tx, id, lock: true) else { return nil }
            let graceRunning = job.graceEndsAt.map { $0 > now } ?? false
            // From revoke on the old key is going anyway; a rollback keeps it.
            guard !job.state.isTerminal, job.step.canRollBack, !job.gracePeriod.isZero || graceRunning else {
                return job
            }
            let time = now.timeIntervalSinceReferenceDate
            try await tx.run(
                """
                UPDATE jobs SET grace_period = \(ISODuration.zero.description),
                    grace_ends_at = CASE WHEN grace_ends_at > \(time) THEN \(time) ELSE grace_ends_at END,
                    next_attempt_at = CASE WHEN step = 'grace' AND next_attempt_at > \(time) THEN \(time) ELSE next_attempt_at END,
                    updated_at = \(time), revision = revision + 1
                WHERE id = \(id.rawValue)
                """
            )
            try await Self.appendEvents(tx, job: id, [event])
            // The job's holder should re-read it and revoke now.
            try await Self.notifyJobs(tx)
            return try await Self.fetchJob(tx, id)
        }
    }

    // MARK: Helpers

    private static func triggerNotFound(_ id: TriggerID) -> StoreError {
        StoreError(.notFound, message: "no trigger \(id)")
    }

    private static func fetchTrigger(_ tx: Transaction, _ id: TriggerID, lock: Bool = false) async throws -> WebhookTrigger? {
        let rows =
            lock
            ? try await tx.rows("SELECT * FROM triggers WHERE id = \(id.rawValue) FOR UPDATE")
            : try await tx.rows("SELECT * FROM triggers WHERE id = \(id.rawValue)")
        return try rows.first.map(RowCoding.trigger(from:))
    }

    private static func fetchDelivery(_ tx: Transaction, _ trigger: TriggerID, _ deliveryID: String, since: Date) async throws -> [JobID]? {
        guard
            let row = try await tx.rows(
                """
                SELECT job_ids FROM hook_deliveries
                WHERE trigger_id = \(trigger.rawValue) AND delivery_id = \(deliveryID) AND received_at >= \(since.timeIntervalSinceReferenceDate)
                """
            ).first
        else { return nil }
        return try RowCoding.decodeJSON([JobID].self, row, "job_ids")
    }
}
