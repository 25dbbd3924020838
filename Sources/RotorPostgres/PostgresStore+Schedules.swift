public import Foundation
import PostgresNIO
public import RotorCore
import RotorStorage

extension PostgresStore {
    /// After a rotation commit that records a new `last_rotated_at` (a success), computes the
    /// credential's `next_rotation_at` afresh from its stored schedule and new current key, as
    /// the SQLite store does.
    static func rescheduleIfRotated(_ tx: Transaction, _ committed: Credential) async throws {
        guard var stored = try await Self.fetchCredential(tx, committed.id, lock: true), stored.lastRotatedAt != committed.lastRotatedAt
        else { return }
        stored.state = committed.state
        stored.current = committed.current
        stored.lastRotatedAt = committed.lastRotatedAt
        try await tx.run(
            """
            UPDATE credentials SET next_rotation_at = \(stored.scheduledRotationAt()?.timeIntervalSinceReferenceDate)
            WHERE id = \(committed.id.rawValue)
            """
        )
    }
}

extension PostgresStore: ScheduleStore {
    public func credentialsDueForRotation(at now: Date, limit: Int) async throws -> [Credential] {
        guard limit > 0 else { return [] }
        return try await self.read { tx in
            try await tx.rows(
                """
                SELECT * FROM credentials
                WHERE next_rotation_at IS NOT NULL AND next_rotation_at <= \(now.timeIntervalSinceReferenceDate) AND state = 'active'
                ORDER BY next_rotation_at, id LIMIT \(limit)
                """
            ).map(RowCoding.credential(from:))
        }
    }

    public func earliestScheduledRotation() async throws -> Date? {
        try await self.read { tx in
            try await tx.rows(
                "SELECT MIN(next_rotation_at) AS earliest FROM credentials WHERE next_rotation_at IS NOT NULL AND state = 'active'"
            ).first?.optionalDouble("earliest").map(Date.init(timeIntervalSinceReferenceDate:))
        }
    }

    public func startScheduledRotation(_ new: NewJob, dueAt: Date, retryAt: Date, events: [JobEvent]) async throws -> Job? {
        try await self.write { tx in
            // Compare-and-set on the cursor under the credential's row lock: of several
            // instances' schedulers, the first to move it started this due rotation; the others
            // wait for its commit, then see the cursor moved. The lock also waits out a commit of
            // the credential's previous job, so the row it returns is the one the job starts from.
            guard let credential = try await Self.fetchCredential(tx, new.credentialID, lock: true), credential.state == .active,
                credential.nextRotationAt == dueAt
            else { return nil }
            if try await Self.activeJobID(tx, credential: new.credentialID) != nil { return nil }
            let job = Job(new, credential: credential)

            var stored = job
            stored.revision = 1
            let inserted = try await tx.unlessUniqueViolation {
                try await Self.insertJob(tx, stored, idempotencyKey: nil, requestFingerprint: nil)
            }
            // An API job for this credential committed meanwhile.
            guard inserted else { return nil }
            try await Self.appendEvents(tx, job: stored.id, events)
            try await tx.run(
                """
                UPDATE credentials SET state = \(CredentialState.rotating.rawValue), next_rotation_at = \(retryAt.timeIntervalSinceReferenceDate),
                    updated_at = \(job.createdAt.timeIntervalSinceReferenceDate)
                WHERE id = \(job.credentialID.rawValue)
                """
            )
            try await Self.notifyJobs(tx)
            return stored
        }
    }
}
