public import Foundation
import GRDB
public import RotorCore
import RotorStorage

extension SQLiteStore {
    /// `v2-schedules-deliveries`: an index for the scheduler's due query, and the per-target
    /// delivery log.
    static func registerScheduleAndDeliveryMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2-schedules-deliveries") { db in
            try db.execute(
                sql: """
                    CREATE INDEX credentials_by_next_rotation
                        ON credentials(next_rotation_at) WHERE next_rotation_at IS NOT NULL;

                    -- One row per HTTP attempt at a target: metadata only, never the payload.
                    CREATE TABLE target_deliveries (
                        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                        seq INTEGER NOT NULL,
                        target_id TEXT NOT NULL,
                        event_type TEXT NOT NULL,
                        attempt INTEGER NOT NULL,
                        status_code INTEGER,
                        duration_ms INTEGER NOT NULL,
                        error TEXT,
                        at REAL NOT NULL,
                        PRIMARY KEY (job_id, seq)
                    );
                    """
            )
        }
    }

    /// After a rotation commit that records a new `last_rotated_at` (a success), computes the
    /// credential's `next_rotation_at` afresh from its stored schedule and new current key. Other
    /// commits leave it alone: a scheduled job that rolls back keeps the retry time the scheduler
    /// set, so a failing rotation is not started again at once.
    static func rescheduleIfRotated(_ db: Database, _ committed: Credential) throws {
        // Most commits do not finish a rotation: compare one column before reading the row.
        let storedRotatedAt = try db.fetchRow("SELECT last_rotated_at FROM credentials WHERE id = ?", arguments: [committed.id.rawValue])
        guard let storedRotatedAt, try storedRotatedAt.optionalDouble("last_rotated_at") != RowCoding.time(committed.lastRotatedAt),
            var stored = try Self.fetchCredential(db, committed.id), stored.lastRotatedAt != committed.lastRotatedAt
        else { return }
        stored.state = committed.state
        stored.current = committed.current
        stored.lastRotatedAt = committed.lastRotatedAt
        try db.run(
            sql: "UPDATE credentials SET next_rotation_at = ? WHERE id = ?",
            arguments: [RowCoding.time(stored.scheduledRotationAt()), committed.id.rawValue]
        )
    }
}

extension SQLiteStore: ScheduleStore {
    public func credentialsDueForRotation(at now: Date, limit: Int) async throws -> [Credential] {
        guard limit > 0 else { return [] }
        return try await self.scans.read { db in
            try db.fetchRows("""
                    SELECT * FROM credentials
                    WHERE next_rotation_at IS NOT NULL AND next_rotation_at <= ? AND state = 'active'
                    ORDER BY next_rotation_at, id LIMIT ?
                    """,
                arguments: [RowCoding.time(now), limit]
            ).map(RowCoding.credential(from:))
        }
    }

    public func earliestScheduledRotation() async throws -> Date? {
        try await self.reads.read { db in
            try Double.fetchOne(cached: db, sql: "SELECT MIN(next_rotation_at) FROM credentials WHERE next_rotation_at IS NOT NULL AND state = 'active'"
            ).map(Date.init(timeIntervalSinceReferenceDate:))
        }
    }

    public func startScheduledRotation(_ new: NewJob, dueAt: Date, retryAt: Date, events: [JobEvent]) async throws -> Job? {
        try await self.writer.write { db in
            // Compare-and-set on the cursor: whoever moved it first started this due rotation.
            guard let credential = try Self.fetchCredential(db, new.credentialID), credential.state == .active,
                credential.nextRotationAt == dueAt
            else { return nil }
            if try Self.activeJobID(db, credential: new.credentialID) != nil { return nil }
            let job = Job(new, credential: credential)

            // No idempotency key: those belong to API callers. SQLite runs one write transaction
            // at a time, so the compare-and-set above is what keeps a due rotation to one job.
            var stored = job
            stored.revision = 1
            let columns = RowCoding.jobValueColumns + ["revision"]
            try db.run(
                sql: "INSERT INTO jobs (\(columns.joined(separator: ", "))) VALUES (\(Self.placeholders(columns.count)))",
                arguments: StatementArguments(try RowCoding.values(stored) + [.int(stored.revision)])
            )
            try Self.appendEvents(db, job: stored.id, events)
            try Self.appendAudit(db, AuditRecord(at: job.createdAt, actor: "scheduler", action: "job.create", resource: stored.id.rawValue))
            try db.run(
                sql: "UPDATE credentials SET state = ?, next_rotation_at = ?, updated_at = ? WHERE id = ?",
                arguments: [CredentialState.rotating.rawValue, RowCoding.time(retryAt), RowCoding.time(job.createdAt), job.credentialID.rawValue]
            )
            return stored
        }
    }
}
