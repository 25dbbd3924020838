public import Foundation
import PostgresNIO
public import RotorCore
import RotorStorage

extension PostgresStore: TargetSecretStore {
    public func rollSigningSecret(credential id: CredentialID, target targetID: TargetID, to secret: Secret, overlapUntil: Date?, at now: Date) async throws
        -> Credential
    {
        try await self.write { tx in
            guard var credential = try await Self.fetchCredential(tx, id, lock: true) else { throw StoreError.credentialNotFound(id) }
            guard let index = credential.targets.firstIndex(where: { $0.id == targetID }) else {
                throw StoreError(.notFound, message: "credential \(id) has no target \(targetID)")
            }
            let owner = id.rawValue
            let old = try await self.fetchSecret(tx, owner: owner, field: EnvelopeField.signingSecret(targetID))
            if let overlapUntil, overlapUntil > now, let old {
                try await self.putSecret(tx, owner: owner, field: EnvelopeField.previousSigningSecret(targetID), old)
                credential.targets[index].previousSecretExpiresAt = overlapUntil
            } else {
                try await self.deleteSecret(tx, owner: owner, field: EnvelopeField.previousSigningSecret(targetID))
                credential.targets[index].previousSecretExpiresAt = nil
            }
            try await self.putSecret(tx, owner: owner, field: EnvelopeField.signingSecret(targetID), secret)
            credential.updatedAt = now
            try await tx.run(
                """
                UPDATE credentials SET targets = \(try RowCoding.json(credential.targets)), updated_at = \(now.timeIntervalSinceReferenceDate)
                WHERE id = \(owner)
                """
            )
            return credential
        }
    }
}

extension PostgresStore: TargetDeliveryLog {
    public func recordDelivery(_ record: TargetDeliveryRecord) async throws {
        try await self.write { tx in
            // A job's targets are attempted concurrently: the job row's lock serializes their
            // numbering (FOR NO KEY UPDATE still lets this insert's foreign-key check through).
            guard try await !tx.rows("SELECT id FROM jobs WHERE id = \(record.jobID.rawValue) FOR NO KEY UPDATE").isEmpty else {
                throw StoreError.jobNotFound(record.jobID)
            }
            let seq = try await tx.rows(
                "SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM target_deliveries WHERE job_id = \(record.jobID.rawValue)"
            ).first?.int("seq") ?? 1
            try await tx.run(
                """
                INSERT INTO target_deliveries (job_id, seq, target_id, event_type, attempt, status_code, duration_ms, error, at)
                VALUES (\(record.jobID.rawValue), \(seq), \(record.targetID.rawValue), \(record.eventType), \(record.attempt),
                    \(record.statusCode), \(record.durationMs), \(record.error), \(record.at.timeIntervalSinceReferenceDate))
                """
            )
        }
    }

    public func deliveries(_ job: JobID, _ page: PageRequest) async throws -> Page<TargetDeliveryRecord> {
        let after = try page.cursor.map { try PageCursor.decodeSequence($0) } ?? 0
        return try await self.read { tx in
            let rows = try await tx.rows(
                "SELECT * FROM target_deliveries WHERE job_id = \(job.rawValue) AND seq > \(after) ORDER BY seq LIMIT \(page.limit + 1)"
            ).map { row in
                TargetDeliveryRecord(
                    seq: try row.int("seq"),
                    jobID: job,
                    targetID: TargetID(unchecked: try row.string("target_id")),
                    eventType: try row.string("event_type"),
                    attempt: try row.int("attempt"),
                    statusCode: try row.optionalInt("status_code"),
                    durationMs: try row.int("duration_ms"),
                    error: try row.optionalString("error"),
                    at: try RowCoding.date(row, "at")
                )
            }
            return Page(rows, limit: page.limit) { PageCursor.encode(sequence: $0.seq) }
        }
    }
}
