import GRDB

extension SQLiteStore {
    /// Event subscriptions and their outbox (DESIGN.md §4), after "v1".
    static func registerSubscriptionMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2-subscriptions") { db in
            try db.execute(
                sql: """
                    -- The signing secret is in `secrets` (owner_id = the subscription's id).
                    CREATE TABLE subscriptions (
                        id TEXT PRIMARY KEY NOT NULL,
                        url TEXT NOT NULL,
                        events TEXT NOT NULL,
                        created_at REAL NOT NULL
                    );
                    CREATE INDEX subscriptions_by_created_at ON subscriptions(created_at, id);

                    -- One row per event that at least one subscription wanted; the payload is the
                    -- exact body every attempt sends, and never holds a secret.
                    CREATE TABLE outbox_events (
                        id TEXT PRIMARY KEY NOT NULL,
                        type TEXT NOT NULL,
                        timestamp REAL NOT NULL,
                        payload BLOB NOT NULL
                    );

                    -- The outbox proper: one row per (event, subscription), written in the
                    -- transaction of the change the event reports.
                    CREATE TABLE outbox_deliveries (
                        event_id TEXT NOT NULL REFERENCES outbox_events(id) ON DELETE CASCADE,
                        subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
                        state TEXT NOT NULL,
                        attempts INTEGER NOT NULL,
                        last_status_code INTEGER,
                        last_error TEXT,
                        last_attempt_at REAL,
                        next_attempt_at REAL,
                        delivered_at REAL,
                        created_at REAL NOT NULL,
                        lease_owner TEXT,
                        lease_expires_at REAL,
                        PRIMARY KEY (event_id, subscription_id)
                    );
                    CREATE INDEX outbox_deliveries_due ON outbox_deliveries(state, next_attempt_at);
                    CREATE INDEX outbox_deliveries_by_subscription ON outbox_deliveries(subscription_id, created_at, event_id);

                    -- credential.expiring is reported once per key.
                    CREATE TABLE expiry_notices (
                        credential_id TEXT NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
                        provider_key_id TEXT NOT NULL,
                        noticed_at REAL NOT NULL,
                        PRIMARY KEY (credential_id, provider_key_id)
                    );
                    """
            )
        }
    }
}
