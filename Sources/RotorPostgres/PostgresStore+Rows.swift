import Foundation
import PostgresNIO
import RotorCore

/// Conversions between the domain models and table rows; the same encodings as the SQLite store
/// (times as seconds since 2001-01-01 in `double precision`, so a `Date` comes back exactly as it
/// was given; nested values as JSON text).
enum Rows {
    // MARK: Values

    static func time(_ date: Date) -> SQLValue { .double(date.timeIntervalSinceReferenceDate) }

    static func time(_ date: Date?) -> SQLValue { .double(date?.timeIntervalSinceReferenceDate) }

    static func date(_ row: PostgresRandomAccessRow, _ column: String) throws -> Date {
        Date(timeIntervalSinceReferenceDate: try row.double(column))
    }

    static func optionalDate(_ row: PostgresRandomAccessRow, _ column: String) throws -> Date? {
        try row.optionalDouble(column).map(Date.init(timeIntervalSinceReferenceDate:))
    }

    /// One encoder and one decoder for every column, as in the SQLite store: making them per
    /// value cost more than the encoding itself on the engine's hot path. Both are safe to share
    /// once configured.
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

    static func decodeJSON<T: Decodable>(_ type: T.Type, _ row: PostgresRandomAccessRow, _ column: String) throws -> T {
        try decoder.decode(T.self, from: Data(try row.string(column).utf8))
    }

    static func decodeOptionalJSON<T: Decodable>(_ type: T.Type, _ row: PostgresRandomAccessRow, _ column: String) throws -> T? {
        guard let text = try row.optionalString(column) else { return nil }
        return try decoder.decode(T.self, from: Data(text.utf8))
    }

    static func enumValue<T: RawRepresentable>(_ type: T.Type, _ row: PostgresRandomAccessRow, _ column: String) throws -> T
    where T.RawValue == String {
        let text = try row.string(column)
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

    static func corrupt(_ column: String, _ text: String) -> PostgresStoreError {
        PostgresStoreError("unexpected value '\(text)' in column \(column)")
    }

    // MARK: Credentials

    static let credentialColumns = [
        "id", "name", "provider", "state", "version", "current_key", "previous_key", "targets", "schedule",
        "key_expiry", "labels", "next_rotation_at", "last_rotated_at", "created_at", "updated_at",
    ]

    /// Values in the order of ``credentialColumns``.
    static func values(_ credential: Credential) throws -> [SQLValue] {
        [
            .text(credential.id.rawValue), .text(credential.name), .text(credential.provider.rawValue), .text(credential.state.rawValue),
            .int(credential.version), .text(try json(credential.current)), .text(try optionalJSON(credential.previous)),
            .text(try json(credential.targets)), .text(try optionalJSON(credential.schedule)), .text(credential.keyExpiry?.description),
            .text(try json(credential.labels)), time(credential.nextRotationAt), time(credential.lastRotatedAt),
            time(credential.createdAt), time(credential.updatedAt),
        ]
    }

    static func credential(_ row: PostgresRandomAccessRow) throws -> Credential {
        Credential(
            id: CredentialID(unchecked: try row.string("id")),
            name: try row.string("name"),
            provider: try enumValue(ProviderKind.self, row, "provider"),
            state: try enumValue(CredentialState.self, row, "state"),
            version: try row.int("version"),
            current: try decodeJSON(KeyInfo.self, row, "current_key"),
            previous: try decodeOptionalJSON(KeyInfo.self, row, "previous_key"),
            targets: try decodeJSON([Target].self, row, "targets"),
            schedule: try decodeOptionalJSON(Schedule.self, row, "schedule"),
            keyExpiry: try row.optionalString("key_expiry").map { try duration($0, "key_expiry") },
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
    static func values(_ job: Job) throws -> [SQLValue] {
        [
            .text(job.id.rawValue), .text(job.credentialID.rawValue), .text(job.state.rawValue), .text(job.step.rawValue),
            .text(try json(job.trigger)), .text(job.reason), .bool(job.dryRun), .text(job.gracePeriod.description),
            time(job.graceEndsAt), .int(job.attempt), time(job.nextAttemptAt), .bool(job.cancelRequested),
            time(job.createdAt), time(job.startedAt), time(job.updatedAt), time(job.finishedAt),
            .text(try optionalJSON(job.newKey)), .text(try json(job.oldKey)), .text(try json(job.targets)),
            .text(try optionalJSON(job.error)),
        ]
    }

    static func job(_ row: PostgresRandomAccessRow) throws -> Job {
        Job(
            restoring: JobID(unchecked: try row.string("id")),
            credentialID: CredentialID(unchecked: try row.string("credential_id")),
            state: try enumValue(JobState.self, row, "state"),
            step: try enumValue(JobStep.self, row, "step"),
            trigger: try decodeJSON(Trigger.self, row, "trigger"),
            reason: try row.optionalString("reason"),
            dryRun: try row.bool("dry_run"),
            gracePeriod: try duration(try row.string("grace_period"), "grace_period"),
            graceEndsAt: try optionalDate(row, "grace_ends_at"),
            attempt: try row.int("attempt"),
            nextAttemptAt: try optionalDate(row, "next_attempt_at"),
            cancelRequested: try row.bool("cancel_requested"),
            createdAt: try date(row, "created_at"),
            startedAt: try optionalDate(row, "started_at"),
            updatedAt: try date(row, "updated_at"),
            finishedAt: try optionalDate(row, "finished_at"),
            newKey: try decodeOptionalJSON(KeyInfo.self, row, "new_key"),
            oldKey: try decodeJSON(KeyInfo.self, row, "old_key"),
            targets: try decodeJSON([JobTarget].self, row, "targets"),
            error: try decodeOptionalJSON(JobError.self, row, "error"),
            revision: try row.int("revision")
        )
    }

    static func event(_ row: PostgresRandomAccessRow) throws -> JobEvent {
        JobEvent(
            seq: try row.int("seq"),
            at: try date(row, "at"),
            type: try row.string("type"),
            step: try row.optionalString("step").map { text in
                guard let step = JobStep(rawValue: text) else { throw corrupt("step", text) }
                return step
            },
            message: try row.string("message")
        )
    }
}
