import GRDB

extension SQLiteStore {
    /// The schema, one migration per released change; never edit a registered migration.
    ///
    /// Times are REAL seconds since 2001-01-01 UTC (`Date.timeIntervalSinceReferenceDate`), the
    /// value `Date` holds: seconds since 1970 lose the last bit of present-day dates on the way
    /// back, and the store must return exactly what it was given.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE credentials (
                        id TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL UNIQUE,
                        provider TEXT NOT NULL,
                        state TEXT NOT NULL,
                        version INTEGER NOT NULL,
                        current_key TEXT NOT NULL,
                        previous_key TEXT,
                        targets TEXT NOT NULL,
                        schedule TEXT,
                        key_expiry TEXT,
                        labels TEXT NOT NULL,
                        next_rotation_at REAL,
                        last_rotated_at REAL,
                        created_at REAL NOT NULL,
                        updated_at REAL NOT NULL
                    );

                    -- Envelopes only (DESIGN.md §3), bound to (owner_id, field, version). The owner
                    -- is a credential or a job, so there is no foreign key; deleteCredential removes
                    -- a credential's rows and its jobs'. A cleared secret keeps its row with a NULL
                    -- envelope, so its version only ever grows.
                    CREATE TABLE secrets (
                        owner_id TEXT NOT NULL,
                        field TEXT NOT NULL,
                        version INTEGER NOT NULL,
                        envelope BLOB,
                        PRIMARY KEY (owner_id, field)
                    );

                    -- Deleting a credential is refused while it has an active job, so the cascade
                    -- only ever removes finished jobs' history.
                    CREATE TABLE jobs (
                        id TEXT PRIMARY KEY NOT NULL,
                        credential_id TEXT NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
                        state TEXT NOT NULL,
                        step TEXT NOT NULL,
                        trigger TEXT NOT NULL,
                        reason TEXT,
                        dry_run INTEGER NOT NULL,
                        grace_period TEXT NOT NULL,
                        grace_ends_at REAL,
                        attempt INTEGER NOT NULL,
                        next_attempt_at REAL,
                        cancel_requested INTEGER NOT NULL,
                        created_at REAL NOT NULL,
                        started_at REAL,
                        updated_at REAL NOT NULL,
                        finished_at REAL,
                        new_key TEXT,
                        old_key TEXT NOT NULL,
                        targets TEXT NOT NULL,
                        error TEXT,
                        revision INTEGER NOT NULL,
                        lease_owner TEXT,
                        lease_expires_at REAL,
                        idempotency_key TEXT UNIQUE,
                        request_fingerprint TEXT
                    );

                    -- DESIGN.md §2 rule 4: at most one non-terminal job per credential.
                    CREATE UNIQUE INDEX jobs_one_active_per_credential
                        ON jobs(credential_id) WHERE state IN ('queued', 'running');
                    CREATE INDEX jobs_by_created_at ON jobs(created_at, id);
                    CREATE INDEX jobs_by_credential ON jobs(credential_id, created_at, id);
                    CREATE INDEX jobs_runnable ON jobs(state, next_attempt_at);

                    CREATE TABLE job_events (
                        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                        seq INTEGER NOT NULL,
                        at REAL NOT NULL,
                        type TEXT NOT NULL,
                        step TEXT,
                        message TEXT NOT NULL,
                        PRIMARY KEY (job_id, seq)
                    );
                    """
            )
        }
        Self.registerSubscriptionMigrations(&migrator)
        Self.registerScheduleAndDeliveryMigration(&migrator)
        Self.registerTriggerMigrations(&migrator)
        Self.registerKeyringMigration(&migrator)
        Self.registerTokenAndAuditMigrations(&migrator)
        migrator.registerMigration("v4-claim-order") { db in
            // Claims walk the unfinished jobs oldest first and stop at their limit. Without this
            // index they read every queued job and sort them, on every claim: with 10,000 jobs
            // queued that cost more CPU than anything else a claim does (`rotor-bench engine`).
            try db.execute(sql: "CREATE INDEX jobs_unfinished_by_created_at ON jobs(created_at, id) WHERE state IN ('queued', 'running')")
        }
        Self.registerRetentionMigration(&migrator)
        migrator.registerMigration("v6-create-attempt") { db in
            // Job.createAttemptBegunAt. A job a crash left in doubt at create began that attempt
            // at its last change (its intent was that change).
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN create_attempt_begun_at REAL")
            try db.execute(
                sql: """
                    UPDATE jobs SET create_attempt_begun_at = updated_at
                    WHERE state = 'running' AND step = 'create' AND attempt > 0 AND next_attempt_at IS NULL AND dry_run = 0
                    """
            )
        }
        Self.registerAuditCheckpointMigration(&migrator)
        Self.registerAgentMigration(&migrator)
        migrator.registerMigration("v9-credential-manager") { db in
            // Credentials whose keys another credential's key manages (docs/providers.md).
            try db.execute(sql: "ALTER TABLE credentials ADD COLUMN manager_credential_id TEXT")
            try db.execute(sql: "ALTER TABLE credentials ADD COLUMN subject TEXT")
        }
        return migrator
    }
}
