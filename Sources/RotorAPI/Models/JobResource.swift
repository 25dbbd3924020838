import Foundation
import NIOCore
import NIOHTTP1
import RotorCore
import RotorHTTP

/// A job as `GET /v1/jobs/{id}` shows it (DESIGN.md §4). Optional members are always present,
/// as null when unset.
struct JobResource: Encodable {
    struct KeyReference: Encodable {
        var providerKeyID: String
        var fingerprint: String

        enum CodingKeys: String, CodingKey {
            case providerKeyID = "provider_key_id"
            case fingerprint
        }
    }

    let job: Job

    enum CodingKeys: String, CodingKey {
        case id, state, step, trigger, reason, attempt, targets, error
        case credentialID = "credential_id"
        case dryRun = "dry_run"
        case gracePeriod = "grace_period"
        case graceEndsAt = "grace_ends_at"
        case nextAttemptAt = "next_attempt_at"
        case createdAt = "created_at"
        case startedAt = "started_at"
        case updatedAt = "updated_at"
        case finishedAt = "finished_at"
        case newKey = "new_key"
        case oldKey = "old_key"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        let job = self.job
        try container.encode(job.id, forKey: .id)
        try container.encode(job.credentialID, forKey: .credentialID)
        try container.encode(job.state, forKey: .state)
        try container.encode(job.step, forKey: .step)
        try container.encode(job.trigger, forKey: .trigger)
        try container.encode(job.reason, forKey: .reason)
        try container.encode(job.dryRun, forKey: .dryRun)
        try container.encode(job.gracePeriod, forKey: .gracePeriod)
        try container.encode(job.graceEndsAt, forKey: .graceEndsAt)
        try container.encode(job.attempt, forKey: .attempt)
        try container.encode(job.nextAttemptAt, forKey: .nextAttemptAt)
        try container.encode(job.createdAt, forKey: .createdAt)
        try container.encode(job.startedAt, forKey: .startedAt)
        try container.encode(job.updatedAt, forKey: .updatedAt)
        try container.encode(job.finishedAt, forKey: .finishedAt)
        try container.encode(job.newKey.map { KeyReference(providerKeyID: $0.providerKeyID, fingerprint: $0.fingerprint) }, forKey: .newKey)
        try container.encode(KeyReference(providerKeyID: job.oldKey.providerKeyID, fingerprint: job.oldKey.fingerprint), forKey: .oldKey)
        try container.encode(job.targets, forKey: .targets)
        try container.encode(job.error, forKey: .error)
    }
}

extension JobResource {
    /// The same JSON as `encode(to:)` through `JSONCoding.encoder`, written directly: this is the
    /// answer callers poll (`GET /v1/jobs/{id}`), and the generic encoder was a sixth of its
    /// cost. `JobResourceJSONTests` holds the two to the same output.
    func json() -> ByteBuffer {
        let job = self.job
        var writer = JSONWriter(capacity: 768)
        writer.beginObject()
        writer.key("id")
        writer.string(job.id.rawValue)
        writer.key("credential_id")
        writer.string(job.credentialID.rawValue)
        writer.key("state")
        writer.string(job.state.rawValue)
        writer.key("step")
        writer.string(job.step.rawValue)
        writer.key("trigger")
        writer.beginObject()
        writer.key("kind")
        writer.string(job.trigger.kind.rawValue)
        if let source = job.trigger.source {
            writer.key("source")
            writer.string(source)
        }
        writer.endObject()
        writer.key("reason")
        writer.string(job.reason)
        writer.key("dry_run")
        writer.bool(job.dryRun)
        writer.key("grace_period")
        writer.string(job.gracePeriod.description)
        writer.key("grace_ends_at")
        writer.date(job.graceEndsAt)
        writer.key("attempt")
        writer.int(job.attempt)
        writer.key("next_attempt_at")
        writer.date(job.nextAttemptAt)
        writer.key("created_at")
        writer.date(job.createdAt)
        writer.key("started_at")
        writer.date(job.startedAt)
        writer.key("updated_at")
        writer.date(job.updatedAt)
        writer.key("finished_at")
        writer.date(job.finishedAt)
        writer.key("new_key")
        if let key = job.newKey {
            Self.write(key.providerKeyID, key.fingerprint, to: &writer)
        } else {
            writer.null()
        }
        writer.key("old_key")
        Self.write(job.oldKey.providerKeyID, job.oldKey.fingerprint, to: &writer)
        writer.key("targets")
        writer.beginArray()
        for target in job.targets {
            writer.beginObject()
            writer.key("target_id")
            writer.string(target.targetID.rawValue)
            writer.key("state")
            writer.string(target.state.rawValue)
            writer.key("attempts")
            writer.int(target.attempts)
            if let lastError = target.lastError {
                writer.key("last_error")
                writer.string(lastError)
            }
            if let deadline = target.verifyDeadline {
                writer.key("verify_deadline")
                writer.date(deadline)
            }
            writer.endObject()
        }
        writer.endArray()
        writer.key("error")
        if let error = job.error {
            writer.beginObject()
            writer.key("code")
            writer.string(error.code)
            writer.key("message")
            writer.string(error.message)
            writer.key("step")
            writer.string(error.step.rawValue)
            writer.endObject()
        } else {
            writer.null()
        }
        writer.endObject()
        return writer.buffer
    }

    private static func write(_ providerKeyID: String, _ fingerprint: String, to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("provider_key_id")
        writer.string(providerKeyID)
        writer.key("fingerprint")
        writer.string(fingerprint)
        writer.endObject()
    }

    /// The job as a `200` (or `status`) answer.
    func response(status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:]) -> Response {
        Self.response(self.json(), status: status, headers: headers)
    }

    /// A job's JSON (``json()``, written now or earlier) as a `200` (or `status`) answer.
    static func response(_ body: ByteBuffer, status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:]) -> Response {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        return Response(status: status, headers: headers, body: body)
    }
}

/// `POST /v1/jobs`.
struct JobCreateRequest: Decodable {
    var credentialID: String
    var reason: String?
    var gracePeriod: ISODuration?
    var dryRun: Bool?

    enum CodingKeys: String, CodingKey {
        case credentialID = "credential_id"
        case reason
        case gracePeriod = "grace_period"
        case dryRun = "dry_run"
    }
}
