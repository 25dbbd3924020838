public import Foundation
import GRDB
public import RotorCore
import RotorStorage

extension SQLiteStore: TargetSecretStore {
    public func rollSigningSecret(credential id: CredentialID, target targetID: TargetID, to secret: Secret, overlapUntil: Date?, at now: Date) async throws
        -> Credential
    {
        try await self.writer.write { db in
            guard var credential = try Self.fetchCredential(db, id) else { throw StoreError.credentialNotFound(id) }
            guard let index = credential.targets.firstIndex(where: { $0.id == targetID }) else {
                throw StoreError(.notFound, message: "credential \(id) has no target \(targetID)")
            }
            let owner = id.rawValue
            let old = try self.fetchSecret(db, owner: owner, field: EnvelopeField.signingSecret(targetID))
            if let overlapUntil, overlapUntil > now, let old {
                try self.putSecret(db, owner: owner, field: EnvelopeField.previousSigningSecret(targetID), old)
                credential.targets[index].previousSecretExpiresAt = overlapUntil
            } else {
                try self.deleteSecret(db, owner: owner, field: EnvelopeField.previousSigningSecret(targetID))
                credential.targets[index].previousSecretExpiresAt = nil
            }
            try self.putSecret(db, owner: owner, field: EnvelopeField.signingSecret(targetID), secret)
            credential.updatedAt = now
            try db.run(
                sql: "UPDATE credentials SET targets = ?, updated_at = ? WHERE id = ?",
                arguments: [try RowCoding.json(credential.targets), RowCoding.time(now), owner]
            )
            return credential
        }
    }
}

extension SQLiteStore: TargetDeliveryLog {
    public func recordDelivery(_ record: TargetDeliveryRecord) async throws {
        try await self.writer.write { db in
            let seq = (try Int.fetchOne(cached: db, sql: "SELECT MAX(seq) FROM target_deliveries WHERE job_id = ?", arguments: [record.jobID.rawValue]) ?? 0) + 1
            try db.run(
                sql: """
                    INSERT INTO target_deliveries (job_id, seq, target_id, event_type, attempt, status_code, duration_ms, error, at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.jobID.rawValue, seq, record.targetID.rawValue, record.eventType, record.attempt, record.statusCode,
                    record.durationMs, record.error, RowCoding.time(record.at),
                ]
            )
        }
    }

    public func deliveries(_ job: JobID, _ page: PageRequest) async throws -> Page<TargetDeliveryRecord> {
        let after = try page.cursor.map { try PageCursor.decodeSequence($0) } ?? 0
        return try await self.scans.read { db in
            let rows = try db.fetchRows("SELECT * FROM target_deliveries WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                arguments: [job.rawValue, after, page.limit + 1]
            ).map { row in
                TargetDeliveryRecord(
                    seq: try row.decode(Int.self, forColumn: "seq"),
                    jobID: job,
                    targetID: TargetID(unchecked: try row.decode(String.self, forColumn: "target_id")),
                    eventType: try row.decode(String.self, forColumn: "event_type"),
                    attempt: try row.decode(Int.self, forColumn: "attempt"),
                    statusCode: try row.decode(Int?.self, forColumn: "status_code"),
                    durationMs: try row.decode(Int.self, forColumn: "duration_ms"),
                    error: try row.decode(String?.self, forColumn: "error"),
                    at: try RowCoding.date(row, "at")
                )
            }
            return Page(rows, limit: page.limit) { PageCursor.encode(sequence: $0.seq) }
        }
    }
}
