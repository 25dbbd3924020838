public import Foundation

/// An event for subscribers, as written to the outbox: its id, type, time, and the complete JSON
/// payload every delivery of it sends, in Standard Webhooks' shape
/// `{"type", "timestamp", "data": {...}}` (DESIGN.md §4).
///
/// The payload is fixed when the event is made, in the transaction of the change it reports, so
/// every attempt (and every subscriber) gets the same bytes. It never holds a secret: the
/// factories below put only ids, names, states, fingerprints and times in it.
public struct OutboxEvent: Sendable, Hashable {
    /// The id: the `webhook-id` of every delivery attempt.
    public var id: EventID
    /// The type.
    public var type: EventType
    /// When the reported change happened.
    public var timestamp: Date
    /// The JSON body.
    public var payload: [UInt8]

    /// Wraps stored values (the store's read path).
    public init(id: EventID, type: EventType, timestamp: Date, payload: [UInt8]) {
        self.id = id
        self.type = type
        self.timestamp = timestamp
        self.payload = payload
    }

    /// A new event with `data` encoded into the payload.
    init(type: EventType, timestamp: Date, data: some Encodable) {
        self.id = .generate()
        self.type = type
        self.timestamp = timestamp
        self.payload = Self.encode(Envelope(type: type.rawValue, timestamp: timestamp, data: data))
    }

    private struct Envelope<Payload: Encodable>: Encodable {
        var type: String
        var timestamp: Date
        var data: Payload
    }

    private static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Strings, numbers, booleans and dates only: encoding cannot fail.
        return Array((try? encoder.encode(value)) ?? Data("{}".utf8))
    }
}

// MARK: - Factories

extension OutboxEvent {
    /// The events a change to a job reports: `job.started` when it leaves `queued` for `running`,
    /// `job.<state>` when it becomes terminal, and `credential.attention` when the change put
    /// its credential in `attention` (`credentialStateBefore` being what it was).
    ///
    /// - Parameters:
    ///   - stateBefore: the job's stored state before the change; nil for a new job.
    ///   - job: the job after the change.
    ///   - credentialStateBefore: the credential's stored state before the change.
    ///   - credential: the credential after the change.
    public static func reporting(
        jobStateBefore stateBefore: JobState?,
        job: Job,
        credentialStateBefore: CredentialState,
        credential: Credential,
        at now: Date
    ) -> [OutboxEvent] {
        var events: [OutboxEvent] = []
        if stateBefore != job.state, let type = EventType.reporting(job.state) {
            events.append(OutboxEvent(type: type, timestamp: now, data: JobData(job: job, credential: credential)))
        }
        if credentialStateBefore != .attention && credential.state == .attention {
            events.append(OutboxEvent(type: .credentialAttention, timestamp: now, data: CredentialData(credential: credential, job: job)))
        }
        return events
    }

    /// Whether `credential`'s current key expires at the provider within its schedule's
    /// `before_expiry` of `now`. A credential without `before_expiry`, or whose key has no expiry,
    /// is never expiring.
    public static func isExpiring(_ credential: Credential, at now: Date) -> Bool {
        guard let beforeExpiry = credential.schedule?.beforeExpiry, let expiresAt = credential.current.expiresAt else { return false }
        return beforeExpiry.adding(to: now) >= expiresAt
    }

    /// `credential.expiring` for the credential's current key.
    public static func expiring(_ credential: Credential, at now: Date) -> OutboxEvent {
        OutboxEvent(type: .credentialExpiring, timestamp: now, data: ExpiryData(credential: credential))
    }
}

extension OutboxEvent {
    /// `audit.checkpoint`: the checkpoint as `GET /v1/audit` shows it.
    public static func checkpoint(_ checkpoint: AuditCheckpoint, at now: Date) -> OutboxEvent {
        OutboxEvent(type: .auditCheckpoint, timestamp: now, data: checkpoint)
    }
}

// MARK: - Payload data

/// `data` of the `job.*` events.
private struct JobData: Encodable {
    var job: Job
    var credential: Credential

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id"
        case credentialID = "credential_id"
        case credentialName = "credential_name"
        case state, step, trigger, reason, error, version
        case dryRun = "dry_run"
        case newKey = "new_key"
        case oldKey = "old_key"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.job.id, forKey: .jobID)
        try container.encode(self.job.credentialID, forKey: .credentialID)
        try container.encode(self.credential.name, forKey: .credentialName)
        try container.encode(self.job.state, forKey: .state)
        try container.encode(self.job.step, forKey: .step)
        try container.encode(self.job.trigger, forKey: .trigger)
        try container.encode(self.job.reason, forKey: .reason)
        try container.encode(self.job.dryRun, forKey: .dryRun)
        try container.encode(self.credential.version, forKey: .version)
        try container.encode(self.job.newKey.map(KeyReference.init), forKey: .newKey)
        try container.encode(KeyReference(self.job.oldKey), forKey: .oldKey)
        try container.encode(self.job.error, forKey: .error)
        try container.encode(self.job.startedAt, forKey: .startedAt)
        try container.encode(self.job.finishedAt, forKey: .finishedAt)
    }
}

/// `data` of `credential.attention`.
private struct CredentialData: Encodable {
    var credential: Credential
    var job: Job

    enum CodingKeys: String, CodingKey {
        case credentialID = "credential_id"
        case credentialName = "credential_name"
        case state, version, current, error
        case jobID = "job_id"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.credential.id, forKey: .credentialID)
        try container.encode(self.credential.name, forKey: .credentialName)
        try container.encode(self.credential.state, forKey: .state)
        try container.encode(self.credential.version, forKey: .version)
        try container.encode(KeyReference(self.credential.current), forKey: .current)
        try container.encode(self.job.id, forKey: .jobID)
        try container.encode(self.job.error, forKey: .error)
    }
}

/// `data` of `credential.expiring`.
private struct ExpiryData: Encodable {
    var credential: Credential

    enum CodingKeys: String, CodingKey {
        case credentialID = "credential_id"
        case credentialName = "credential_name"
        case version
        case providerKeyID = "provider_key_id"
        case fingerprint
        case expiresAt = "expires_at"
        case beforeExpiry = "before_expiry"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.credential.id, forKey: .credentialID)
        try container.encode(self.credential.name, forKey: .credentialName)
        try container.encode(self.credential.version, forKey: .version)
        try container.encode(self.credential.current.providerKeyID, forKey: .providerKeyID)
        try container.encode(self.credential.current.fingerprint, forKey: .fingerprint)
        try container.encode(self.credential.current.expiresAt, forKey: .expiresAt)
        try container.encode(self.credential.schedule?.beforeExpiry, forKey: .beforeExpiry)
    }
}

/// A key named without revealing it: `{provider_key_id, fingerprint, expires_at}`.
private struct KeyReference: Encodable {
    var key: KeyInfo

    init(_ key: KeyInfo) { self.key = key }

    enum CodingKeys: String, CodingKey {
        case providerKeyID = "provider_key_id"
        case fingerprint
        case expiresAt = "expires_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.key.providerKeyID, forKey: .providerKeyID)
        try container.encode(self.key.fingerprint, forKey: .fingerprint)
        try container.encode(self.key.expiresAt, forKey: .expiresAt)
    }
}
