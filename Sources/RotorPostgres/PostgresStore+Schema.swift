import Logging
import PostgresNIO

/// One schema change: applied once, in a transaction with its `schema_migrations` row.
struct Migration: Sendable {
    var version: String
    /// One statement each: the extended query protocol takes a single statement per query.
    var statements: [String]
}

extension PostgresStore {
    /// The schema, one migration per released change, named like the SQLite store's; never edit a
    /// registered migration, append a new one.
    ///
    /// Times are `double precision` seconds since 2001-01-01 UTC, like the SQLite store, because
    /// `timestamptz` keeps microseconds and the store must return exactly the `Date` it was given.
    static let migrations: [Migration] = [
        Migration(
            version: "v1",
            statements: [
                """
                CREATE TABLE credentials (
                    id text PRIMARY KEY,
                    name text NOT NULL UNIQUE,
                    provider text NOT NULL,
                    state text NOT NULL,
                    version bigint NOT NULL,
                    current_key text NOT NULL,
                    previous_key text,
                    targets text NOT NULL,
                    schedule text,
                    key_expiry text,
                    labels text NOT NULL,
                    next_rotation_at double precision,
                    last_rotated_at double precision,
                    created_at double precision NOT NULL,
                    updated_at double precision NOT NULL
                )
                """,
                // Envelopes only (DESIGN.md §3), bound to (owner_id, field, version). A cleared
                // secret keeps its row with a NULL envelope, so its version only ever grows.
                """
                CREATE TABLE secrets (
                    owner_id text NOT NULL,
                    field text NOT NULL,
                    version bigint NOT NULL,
                    envelope bytea,
                    PRIMARY KEY (owner_id, field)
                )
                """,
                """
                CREATE TABLE jobs (
                    id text PRIMARY KEY,
                    credential_id text NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
                    state text NOT NULL,
                    step text NOT NULL,
                    trigger text NOT NULL,
                    reason text,
                    dry_run boolean NOT NULL,
                    grace_period text NOT NULL,
                    grace_ends_at double precision,
                    attempt bigint NOT NULL,
                    next_attempt_at double precision,
                    cancel_requested boolean NOT NULL,
                    created_at double precision NOT NULL,
                    started_at double precision,
                    updated_at double precision NOT NULL,
                    finished_at double precision,
                    new_key text,
                    old_key text NOT NULL,
                    targets text NOT NULL,
                    error text,
                    revision bigint NOT NULL,
                    lease_owner text,
                    lease_expires_at double precision,
                    idempotency_key text UNIQUE,
                    request_fingerprint text
                )
                """,
                // DESIGN.md §2 rule 4: at most one non-terminal job per credential.
                "CREATE UNIQUE INDEX jobs_one_active_per_credential ON jobs(credential_id) WHERE state IN ('queued', 'running')",
                "CREATE INDEX jobs_by_created_at ON jobs(created_at, id)",
                "CREATE INDEX jobs_by_credential ON jobs(credential_id, created_at, id)",
                "CREATE INDEX jobs_runnable ON jobs(created_at, id) WHERE state IN ('queued', 'running')",
                """
                CREATE TABLE job_events (
                    job_id text NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    seq bigint NOT NULL,
                    at double precision NOT NULL,
                    type text NOT NULL,
                    step text,
                    message text NOT NULL,
                    PRIMARY KEY (job_id, seq)
                )
                """,
            ]
        ),
        Migration(
            version: "v2-subscriptions",
            statements: [
                "CREATE TABLE subscriptions (id text PRIMARY KEY, url text NOT NULL, events text NOT NULL, created_at double precision NOT NULL)",
                "CREATE INDEX subscriptions_by_created_at ON subscriptions(created_at, id)",
                "CREATE TABLE outbox_events (id text PRIMARY KEY, type text NOT NULL, timestamp double precision NOT NULL, payload bytea NOT NULL)",
                """
                CREATE TABLE outbox_deliveries (
                    event_id text NOT NULL REFERENCES outbox_events(id) ON DELETE CASCADE,
                    subscription_id text NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
                    state text NOT NULL,
                    attempts bigint NOT NULL,
                    last_status_code bigint,
                    last_error text,
                    last_attempt_at double precision,
                    next_attempt_at double precision,
                    delivered_at double precision,
                    created_at double precision NOT NULL,
                    lease_owner text,
                    lease_expires_at double precision,
                    PRIMARY KEY (event_id, subscription_id)
                )
                """,
                "CREATE INDEX outbox_deliveries_due ON outbox_deliveries(state, next_attempt_at)",
                "CREATE INDEX outbox_deliveries_by_subscription ON outbox_deliveries(subscription_id, created_at, event_id)",
                """
                CREATE TABLE expiry_notices (
                    credential_id text NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
                    provider_key_id text NOT NULL,
                    noticed_at double precision NOT NULL,
                    PRIMARY KEY (credential_id, provider_key_id)
                )
                """,
            ]
        ),
        Migration(
            version: "v2-schedules-deliveries",
            statements: [
                "CREATE INDEX credentials_by_next_rotation ON credentials(next_rotation_at) WHERE next_rotation_at IS NOT NULL",
                """
                CREATE TABLE target_deliveries (
                    job_id text NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    seq bigint NOT NULL,
                    target_id text NOT NULL,
                    event_type text NOT NULL,
                    attempt bigint NOT NULL,
                    status_code bigint,
                    duration_ms bigint NOT NULL,
                    error text,
                    at double precision NOT NULL,
                    PRIMARY KEY (job_id, seq)
                )
                """,
            ]
        ),
        PostgresStore.triggerMigration,
        PostgresStore.keyringMigration,
        PostgresStore.tokenAndAuditMigration,
        PostgresStore.auditStagingMigration,
        PostgresStore.retentionMigration,
        Migration(
            version: "v6-create-attempt",
            statements: [
                // Job.createAttemptBegunAt. A job a crash left in doubt at create began that
                // attempt at its last change (its intent was that change).
                "ALTER TABLE jobs ADD COLUMN create_attempt_begun_at double precision",
                """
                UPDATE jobs SET create_attempt_begun_at = updated_at
                WHERE state = 'running' AND step = 'create' AND attempt > 0 AND next_attempt_at IS NULL AND NOT dry_run
                """,
            ]
        ),
        PostgresStore.auditCheckpointMigration,
        PostgresStore.agentMigration,
        Migration(
            version: "v9-credential-manager",
            statements: [
                // Credentials whose keys another credential's key manages (docs/providers.md).
                "ALTER TABLE credentials ADD COLUMN manager_credential_id text",
                "ALTER TABLE credentials ADD COLUMN subject text",
            ]
        ),
    ]

    /// Applies the migrations not yet recorded in `schema_migrations`, all in one transaction
    /// (PostgreSQL's DDL is transactional: a failed migration leaves no half-made table). An
    /// advisory lock keeps instances that start together from migrating at once.
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.transaction(logger: logger) { connection in
            try await connection.run("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.rotor_schema_migrations'))", logger: logger)
            try await connection.run(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: logger
            )
            let applied = Set(try await connection.rows("SELECT version FROM schema_migrations", logger: logger).map { try $0.string("version") })
            for migration in Self.migrations where !applied.contains(migration.version) {
                for statement in migration.statements {
                    try await connection.run(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.run("INSERT INTO schema_migrations (version) VALUES (\(migration.version))", logger: logger)
                logger.info("applied database migration", metadata: ["version": "\(migration.version)"])
            }
        }
    }
}
