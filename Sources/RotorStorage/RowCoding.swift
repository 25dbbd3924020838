package import Foundation
package import RotorCore

/// A stored row whose columns are read by name: what each store's row type offers, so that the
/// records both stores keep are decoded in one place (``RowCoding``).
package protocol StoredRow {
    /// The text in `column`; throws if it is NULL or not text.
    func string(_ column: String) throws -> String
    /// The text in `column`, nil for NULL.
    func optionalString(_ column: String) throws -> String?
    /// The integer in `column`; throws if it is NULL or not an integer.
    func int(_ column: String) throws -> Int
    /// The integer in `column`, nil for NULL.
    func optionalInt(_ column: String) throws -> Int?
    /// The number in `column`; throws if it is NULL or not a number.
    func double(_ column: String) throws -> Double
    /// The number in `column`, nil for NULL.
    func optionalDouble(_ column: String) throws -> Double?
    /// The boolean in `column`; throws if it is NULL or not a boolean.
    func bool(_ column: String) throws -> Bool
}

/// A value bound to a statement parameter, before a store turns it into its driver's own type.
/// Nil binds NULL, typed by the column it goes to.
package enum StoredValue: Sendable, Hashable {
    /// Text.
    case text(String?)
    /// An integer.
    case int(Int?)
    /// A number (times: ``RowCoding/time(_:)-(Date)``).
    case double(Double?)
    /// A boolean.
    case bool(Bool?)
    /// Bytes (a blob, or `bytea`).
    case bytes([UInt8]?)
}

/// A stored value that does not read back as what its column holds: the row was written by
/// something else, or damaged. Names the column and the value, which are never secrets.
package struct StoredValueError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The column.
    package var column: String
    /// The value found there.
    package var value: String

    /// Creates an error.
    package init(column: String, value: String) {
        self.column = column
        self.value = value
    }

    /// What was found where.
    package var description: String { "unexpected value '\(self.value)' in column \(self.column)" }
}

/// How the domain's records are stored, the same in every store: times as seconds since
/// 2001-01-01 in a double (a `Date` comes back exactly as it was given), nested values as JSON
/// text with sorted keys, enums and durations as their text.
package enum RowCoding {
    // MARK: Values

    /// A time as stored.
    package static func time(_ date: Date) -> Double { date.timeIntervalSinceReferenceDate }

    /// A time as stored; nil stays nil.
    package static func time(_ date: Date?) -> Double? { date.map(\.timeIntervalSinceReferenceDate) }

    /// The time in `column`.
    package static func date(_ row: some StoredRow, _ column: String) throws -> Date {
        Date(timeIntervalSinceReferenceDate: try row.double(column))
    }

    /// The time in `column`, nil for NULL.
    package static func optionalDate(_ row: some StoredRow, _ column: String) throws -> Date? {
        try row.optionalDouble(column).map(Date.init(timeIntervalSinceReferenceDate:))
    }

    /// One encoder and one decoder for every column: making them per value cost more than the
    /// encoding itself on the engine's hot path. Both are safe to share once configured.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
    private static let decoder = JSONDecoder()

    /// `value` as the JSON text of a column.
    package static func json(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// `value` as the JSON text of a column; nil stays nil.
    package static func optionalJSON(_ value: (some Encodable)?) throws -> String? {
        try value.map { try json($0) }
    }

    /// The value whose JSON text is in `column`.
    package static func decodeJSON<T: Decodable>(_ type: T.Type, _ row: some StoredRow, _ column: String) throws -> T {
        try decoder.decode(T.self, from: Data(try row.string(column).utf8))
    }

    /// The value whose JSON text is in `column`, nil for NULL.
    package static func decodeOptionalJSON<T: Decodable>(_ type: T.Type, _ row: some StoredRow, _ column: String) throws -> T? {
        guard let text = try row.optionalString(column) else { return nil }
        return try decoder.decode(T.self, from: Data(text.utf8))
    }

    /// The value whose JSON text is in `column`, read by `fast` (``FlatJSON``); a text `fast`
    /// cannot read is decoded by `JSONDecoder`, which has the last word.
    package static func decodeJSON<T: Decodable>(
        _ type: T.Type, _ row: some StoredRow, _ column: String, fast: (String) throws -> T
    ) throws -> T {
        let text = try row.string(column)
        if let value = try? fast(text) { return value }
        return try decoder.decode(T.self, from: Data(text.utf8))
    }

    /// The value whose JSON text is in `column`, nil for NULL; read as ``decodeJSON(_:_:_:fast:)`` does.
    package static func decodeOptionalJSON<T: Decodable>(
        _ type: T.Type, _ row: some StoredRow, _ column: String, fast: (String) throws -> T
    ) throws -> T? {
        guard let text = try row.optionalString(column) else { return nil }
        if let value = try? fast(text) { return value }
        return try decoder.decode(T.self, from: Data(text.utf8))
    }

    /// The enum case whose raw value is in `column`; throws ``StoredValueError`` for another text.
    package static func enumValue<T: RawRepresentable>(_ type: T.Type, _ row: some StoredRow, _ column: String) throws -> T
    where T.RawValue == String {
        let text = try row.string(column)
        guard let value = T(rawValue: text) else { throw corrupt(column, text) }
        return value
    }

    /// The duration `text` read from `column`; throws ``StoredValueError`` if it does not parse.
    package static func duration(_ text: String, _ column: String) throws -> ISODuration {
        do {
            return try ISODuration(parsing: text)
        } catch {
            throw corrupt(column, text)
        }
    }

    /// The error for `text` found in `column`.
    package static func corrupt(_ column: String, _ text: String) -> StoredValueError {
        StoredValueError(column: column, value: text)
    }

    // MARK: Credentials

    /// The columns of a credential's row (its secrets are stored apart).
    package static let credentialColumns = [
        "id", "name", "provider", "state", "version", "current_key", "previous_key", "targets", "schedule",
        "key_expiry", "labels", "next_rotation_at", "last_rotated_at", "created_at", "updated_at",
        "manager_credential_id", "subject",
    ]

    /// Values in the order of ``credentialColumns``.
    package static func values(_ credential: Credential) throws -> [StoredValue] {
        [
            .text(credential.id.rawValue), .text(credential.name), .text(credential.provider.rawValue), .text(credential.state.rawValue),
            .int(credential.version), .text(try json(credential.current)), .text(try optionalJSON(credential.previous)),
            .text(try json(credential.targets)), .text(try optionalJSON(credential.schedule)), .text(credential.keyExpiry?.description),
            .text(try json(credential.labels)), .double(time(credential.nextRotationAt)), .double(time(credential.lastRotatedAt)),
            .double(time(credential.createdAt)), .double(time(credential.updatedAt)),
            .text(credential.managerCredentialID?.rawValue), .text(credential.subject),
        ]
    }

    /// The credential stored in `row`.
    package static func credential(from row: some StoredRow) throws -> Credential {
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
            updatedAt: try date(row, "updated_at"),
            managerCredentialID: try row.optionalString("manager_credential_id").map(CredentialID.init(unchecked:)),
            subject: try row.optionalString("subject")
        )
    }

    // MARK: Jobs

    /// The columns a job's value determines (not the lease, idempotency or revision columns).
    package static let jobValueColumns = [
        "id", "credential_id", "state", "step", "trigger", "reason", "dry_run", "grace_period", "grace_ends_at",
        "attempt", "next_attempt_at", "cancel_requested", "created_at", "started_at", "updated_at", "finished_at",
        "new_key", "old_key", "targets", "error", "create_attempt_begun_at",
    ]

    /// Values in the order of ``jobValueColumns``.
    package static func values(_ job: Job) throws -> [StoredValue] {
        [
            .text(job.id.rawValue), .text(job.credentialID.rawValue), .text(job.state.rawValue), .text(job.step.rawValue),
            .text(try json(job.trigger)), .text(job.reason), .bool(job.dryRun), .text(job.gracePeriod.description),
            .double(time(job.graceEndsAt)), .int(job.attempt), .double(time(job.nextAttemptAt)), .bool(job.cancelRequested),
            .double(time(job.createdAt)), .double(time(job.startedAt)), .double(time(job.updatedAt)), .double(time(job.finishedAt)),
            .text(try optionalJSON(job.newKey)), .text(try json(job.oldKey)), .text(try json(job.targets)),
            .text(try optionalJSON(job.error)), .double(time(job.createAttemptBegunAt)),
        ]
    }

    /// The columns a job's transitions change (a leak report can shorten the grace period); id,
    /// credential, trigger, reason, dry run and creation time are fixed when the job is created.
    package static let jobMutableColumns = [
        "state", "step", "grace_period", "grace_ends_at", "attempt", "next_attempt_at", "cancel_requested", "started_at", "updated_at",
        "finished_at", "new_key", "old_key", "targets", "error", "create_attempt_begun_at",
    ]

    /// Values in the order of ``jobMutableColumns``.
    package static func mutableValues(_ job: Job) throws -> [StoredValue] {
        [
            .text(job.state.rawValue), .text(job.step.rawValue), .text(job.gracePeriod.description), .double(time(job.graceEndsAt)),
            .int(job.attempt), .double(time(job.nextAttemptAt)), .bool(job.cancelRequested), .double(time(job.startedAt)),
            .double(time(job.updatedAt)), .double(time(job.finishedAt)), .text(try optionalJSON(job.newKey)), .text(try json(job.oldKey)),
            .text(try json(job.targets)), .text(try optionalJSON(job.error)), .double(time(job.createAttemptBegunAt)),
        ]
    }

    /// The job stored in `row` (with its `revision` column).
    package static func job(from row: some StoredRow) throws -> Job {
        Job(
            restoring: JobID(unchecked: try row.string("id")),
            credentialID: CredentialID(unchecked: try row.string("credential_id")),
            state: try enumValue(JobState.self, row, "state"),
            step: try enumValue(JobStep.self, row, "step"),
            trigger: try decodeJSON(Trigger.self, row, "trigger", fast: { try trigger(FlatJSON.object($0)) }),
            reason: try row.optionalString("reason"),
            dryRun: try row.bool("dry_run"),
            gracePeriod: try duration(try row.string("grace_period"), "grace_period"),
            graceEndsAt: try optionalDate(row, "grace_ends_at"),
            attempt: try row.int("attempt"),
            nextAttemptAt: try optionalDate(row, "next_attempt_at"),
            createAttemptBegunAt: try optionalDate(row, "create_attempt_begun_at"),
            cancelRequested: try row.bool("cancel_requested"),
            createdAt: try date(row, "created_at"),
            startedAt: try optionalDate(row, "started_at"),
            updatedAt: try date(row, "updated_at"),
            finishedAt: try optionalDate(row, "finished_at"),
            newKey: try decodeOptionalJSON(KeyInfo.self, row, "new_key", fast: { try keyInfo(FlatJSON.object($0)) }),
            oldKey: try decodeJSON(KeyInfo.self, row, "old_key", fast: { try keyInfo(FlatJSON.object($0)) }),
            targets: try decodeJSON([JobTarget].self, row, "targets", fast: { try FlatJSON.objects($0).map(jobTarget) }),
            error: try decodeOptionalJSON(JobError.self, row, "error", fast: { try jobError(FlatJSON.object($0)) }),
            revision: try row.int("revision")
        )
    }

    /// The key facts in `object`, as `KeyInfo`'s `Codable` conformance reads them (times are
    /// `JSONEncoder`'s default: seconds since 2001-01-01).
    package static func keyInfo(_ object: FlatJSON.Object) throws -> KeyInfo {
        try object.expectOnly(["provider_key_id", "fingerprint", "created_at", "expires_at"])
        return KeyInfo(
            providerKeyID: try object.string("provider_key_id"),
            fingerprint: try object.string("fingerprint"),
            createdAt: Date(timeIntervalSinceReferenceDate: try object.double("created_at")),
            expiresAt: try object.optionalDouble("expires_at").map(Date.init(timeIntervalSinceReferenceDate:))
        )
    }

    /// The trigger in `object`.
    package static func trigger(_ object: FlatJSON.Object) throws -> Trigger {
        try object.expectOnly(["kind", "source"])
        guard let kind = Trigger.Kind(rawValue: try object.string("kind")) else { throw FlatJSON.Mismatch() }
        return Trigger(kind: kind, source: try object.optionalString("source"))
    }

    /// One target's progress in `object`.
    package static func jobTarget(_ object: FlatJSON.Object) throws -> JobTarget {
        try object.expectOnly(["target_id", "state", "attempts", "last_error", "verify_deadline"])
        guard let id = TargetID(try object.string("target_id")), let state = JobTarget.State(rawValue: try object.string("state")) else {
            throw FlatJSON.Mismatch()
        }
        return JobTarget(
            targetID: id, state: state, attempts: try object.int("attempts"), lastError: try object.optionalString("last_error"),
            verifyDeadline: try object.optionalDouble("verify_deadline").map(Date.init(timeIntervalSinceReferenceDate:))
        )
    }

    /// The job error in `object`.
    package static func jobError(_ object: FlatJSON.Object) throws -> JobError {
        try object.expectOnly(["code", "message", "step"])
        guard let step = JobStep(rawValue: try object.string("step")) else { throw FlatJSON.Mismatch() }
        return JobError(code: try object.string("code"), message: try object.string("message"), step: step)
    }

    /// The timeline entry stored in `row`.
    package static func event(from row: some StoredRow) throws -> JobEvent {
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

    // MARK: Tokens, triggers, subscriptions

    /// The API token stored in `row` (its hash is not part of it).
    package static func token(from row: some StoredRow) throws -> APIToken {
        let scopes = try decodeJSON([String].self, row, "scopes").map { text in
            guard let scope = TokenScope(rawValue: text) else { throw corrupt("scopes", text) }
            return scope
        }
        return APIToken(
            id: TokenID(unchecked: try row.string("id")),
            name: try row.string("name"),
            scopes: scopes,
            credentialIDs: try decodeOptionalJSON([CredentialID].self, row, "credential_ids"),
            expiresAt: try optionalDate(row, "expires_at"),
            createdAt: try date(row, "created_at")
        )
    }

    /// The inbound webhook trigger stored in `row` (its secrets are stored apart).
    package static func trigger(from row: some StoredRow) throws -> WebhookTrigger {
        WebhookTrigger(
            id: TriggerID(unchecked: try row.string("id")),
            scheme: try enumValue(WebhookTrigger.Scheme.self, row, "scheme"),
            credentialIDs: try decodeJSON([CredentialID].self, row, "credential_ids"),
            description: try row.optionalString("description"),
            createdAt: try date(row, "created_at"),
            updatedAt: try date(row, "updated_at"),
            previousSecretExpiresAt: try optionalDate(row, "previous_secret_expires_at")
        )
    }

    /// The event subscription stored in `row` (its signing secret is stored apart).
    package static func subscription(from row: some StoredRow) throws -> Subscription {
        Subscription(
            id: SubscriptionID(unchecked: try row.string("id")),
            url: try row.string("url"),
            events: try decodeJSON([EventType].self, row, "events"),
            createdAt: try date(row, "created_at")
        )
    }

    /// The delivery stored in `row`: an `outbox_deliveries` row with its event's `type`.
    package static func delivery(from row: some StoredRow) throws -> SubscriptionDelivery {
        SubscriptionDelivery(
            eventID: EventID(unchecked: try row.string("event_id")),
            subscriptionID: SubscriptionID(unchecked: try row.string("subscription_id")),
            type: try enumValue(EventType.self, row, "type"),
            state: try enumValue(DeliveryState.self, row, "state"),
            attempts: try row.int("attempts"),
            lastStatusCode: try row.optionalInt("last_status_code"),
            lastError: try row.optionalString("last_error"),
            lastAttemptAt: try optionalDate(row, "last_attempt_at"),
            nextAttemptAt: try optionalDate(row, "next_attempt_at"),
            deliveredAt: try optionalDate(row, "delivered_at"),
            createdAt: try date(row, "created_at")
        )
    }
}
