import Foundation
import GRDB
import RotorCore

/// Conversions between the domain models and table rows.
enum Rows {
    // MARK: Values

    static func time(_ date: Date) -> Double { date.timeIntervalSinceReferenceDate }

    static func time(_ date: Date?) -> Double? { date.map(\.timeIntervalSinceReferenceDate) }

    static func date(_ row: Row, _ column: String) throws -> Date {
        Date(timeIntervalSinceReferenceDate: try row.decode(Double.self, forColumn: column))
    }

    static func optionalDate(_ row: Row, _ column: String) throws -> Date? {
        try row.decode(Double?.self, forColumn: column).map(Date.init(timeIntervalSinceReferenceDate:))
    }

    /// One encoder and one decoder for every column: making them per value cost more than the
    /// encoding itself on the engine's hot path. Both are safe to share once configured.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
    private static let decoder = JSONDecoder()

    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func optionalJSON(_ value: (some Encodable)?) throws -> String? {
        try value.map { try json($0) }
    }

    static func decodeJSON<T: Decodable>(_ type: T.Type, _ row: Row, _ column: String) throws -> T {
        let text = try row.decode(String.self, forColumn: column)
        return try decoder.decode(T.self, from: Data(text.utf8))
    }

    static func decodeOptionalJSON<T: Decodable>(_ type: T.Type, _ row: Row, _ column: String) throws -> T? {
        guard let text = try row.decode(String?.self, forColumn: column) else { return nil }
        return try decoder.decode(T.self, from: Data(text.utf8))
    }

    static func enumValue<T: RawRepresentable>(_ type: T.Type, _ row: Row, _ column: String) throws -> T
    where T.RawValue == String {
        let text = try row.decode(String.self, forColumn: column)
        guard let value = T(rawValue: text) else { throw corrupt(column, text) }
        return value
    }

    static func duration(_ text: String, _ column: String) throws -> ISODuration {
        do {
            return try ISODuration(parsing: text)
        } catch {
            throw corrupt(column, text)
        }
    }

    static func corrupt(_ column: String, _ text: String) -> DatabaseError {
        DatabaseError(resultCode: .SQLITE_MISMATCH, message: "unexpected value '\(text)' in column \(column)")
    }

    // MARK: Credentials

    static let credentialColumns = [
        "id", "name", "provider", "state", "version", "current_key", "previous_key", "targets", "schedule",
        "key_expiry", "labels", "next_rotation_at", "last_rotated_at", "created_at", "updated_at",
    ]

    /// Values in the order of ``credentialColumns``.
    static func values(_ credential: Credential) throws -> [(any DatabaseValueConvertible)?] {
        [
            credential.id.rawValue, credential.name, credential.provider.rawValue, credential.state.rawValue,
            credential.version, try json(credential.current), try optionalJSON(credential.previous),
            try json(credential.targets), try optionalJSON(credential.schedule), credential.keyExpiry?.description,
            try json(credential.labels), time(credential.nextRotationAt), time(credential.lastRotatedAt),
            time(credential.createdAt), time(credential.updatedAt),
        ]
    }

    static func credential(_ row: Row) throws -> Credential {
        Credential(
            id: CredentialID(unchecked: try row.decode(String.self, forColumn: "id")),
            name: try row.decode(String.self, forColumn: "name"),
            provider: try enumValue(ProviderKind.self, row, "provider"),
            state: try enumValue(CredentialState.self, row, "state"),
            version: try row.decode(Int.self, forColumn: "version"),
            current: try decodeJSON(KeyInfo.self, row, "current_key"),
            previous: try decodeOptionalJSON(KeyInfo.self, row, "previous_key"),
            targets: try decodeJSON([Target].self, row, "targets"),
            schedule: try decodeOptionalJSON(Schedule.self, row, "schedule"),
            keyExpiry: try row.decode(String?.self, forColumn: "key_expiry").map { try duration($0, "key_expiry") },
            labels: try decodeJSON([String: String].self, row, "labels"),
            nextRotationAt: try optionalDate(row, "next_rotation_at"),
            lastRotatedAt: try optionalDate(row, "last_rotated_at"),
            createdAt: try date(row, "created_at"),
            updatedAt: try date(row, "updated_at")
        )
    }

    // MARK: Jobs

    /// The columns a job's value determines (not the lease, idempotency or revision columns).
    static let jobValueColumns = [
        "id", "credential_id", "state", "step", "trigger", "reason", "dry_run", "grace_period", "grace_ends_at",
        "attempt", "next_attempt_at", "cancel_requested", "created_at", "started_at", "updated_at", "finished_at",
        "new_key", "old_key", "targets", "error",
    ]

    /// Values in the order of ``jobValueColumns``.
    static func values(_ job: Job) throws -> [(any DatabaseValueConvertible)?] {
        [
            job.id.rawValue, job.credentialID.rawValue, job.state.rawValue, job.step.rawValue, try json(job.trigger),
            job.reason, job.dryRun, job.gracePeriod.description, time(job.graceEndsAt), job.attempt,
            time(job.nextAttemptAt), job.cancelRequested, time(job.createdAt), time(job.startedAt),
            time(job.updatedAt), time(job.finishedAt), try optionalJSON(job.newKey), try json(job.oldKey),
            try json(job.targets), try optionalJSON(job.error),
        ]
    }

    /// The columns a job's transitions change (a leak report can shorten the grace period); id,
    /// credential, trigger, reason, dry run and creation time are fixed when the job is created.
    static let jobMutableColumns = [
        "state", "step", "grace_period", "grace_ends_at", "attempt", "next_attempt_at", "cancel_requested", "started_at", "updated_at",
        "finished_at", "new_key", "old_key", "targets", "error",
    ]

    /// Values in the order of ``jobMutableColumns``.
    static func mutableValues(_ job: Job) throws -> [(any DatabaseValueConvertible)?] {
        [
            job.state.rawValue, job.step.rawValue, job.gracePeriod.description, time(job.graceEndsAt), job.attempt, time(job.nextAttemptAt), job.cancelRequested,
            time(job.startedAt), time(job.updatedAt), time(job.finishedAt), try optionalJSON(job.newKey), try json(job.oldKey),
            try json(job.targets), try optionalJSON(job.error),
        ]
    }

    static func job(_ row: Row) throws -> Job {
        Job(
            restoring: JobID(unchecked: try row.decode(String.self, forColumn: "id")),
            credentialID: CredentialID(unchecked: try row.decode(String.self, forColumn: "credential_id")),
            state: try enumValue(JobState.self, row, "state"),
            step: try enumValue(JobStep.self, row, "step"),
            trigger: try decodeJSON(Trigger.self, row, "trigger"),
            reason: try row.decode(String?.self, forColumn: "reason"),
            dryRun: try row.decode(Bool.self, forColumn: "dry_run"),
            gracePeriod: try duration(try row.decode(String.self, forColumn: "grace_period"), "grace_period"),
            graceEndsAt: try optionalDate(row, "grace_ends_at"),
            attempt: try row.decode(Int.self, forColumn: "attempt"),
            nextAttemptAt: try optionalDate(row, "next_attempt_at"),
            cancelRequested: try row.decode(Bool.self, forColumn: "cancel_requested"),
            createdAt: try date(row, "created_at"),
            startedAt: try optionalDate(row, "started_at"),
            updatedAt: try date(row, "updated_at"),
            finishedAt: try optionalDate(row, "finished_at"),
            newKey: try decodeOptionalJSON(KeyInfo.self, row, "new_key"),
            oldKey: try decodeJSON(KeyInfo.self, row, "old_key"),
            targets: try decodeJSON([JobTarget].self, row, "targets"),
            error: try decodeOptionalJSON(JobError.self, row, "error"),
            revision: try row.decode(Int.self, forColumn: "revision")
        )
    }

    static func event(_ row: Row) throws -> JobEvent {
        JobEvent(
            seq: try row.decode(Int.self, forColumn: "seq"),
            at: try date(row, "at"),
            type: try row.decode(String.self, forColumn: "type"),
            step: try row.decode(String?.self, forColumn: "step").map { text in
                guard let step = JobStep(rawValue: text) else { throw corrupt("step", text) }
                return step
            },
            message: try row.decode(String.self, forColumn: "message")
        )
    }
}
