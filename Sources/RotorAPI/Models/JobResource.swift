import Foundation
import RotorCore

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
