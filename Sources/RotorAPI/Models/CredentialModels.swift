import Foundation
import RotorCore

// MARK: - Request bodies

/// `POST /v1/credentials`. Every member is optional here so that missing ones are reported
/// together with the other field errors (one 422 listing them all), not one at a time.
struct CredentialCreateBody: Decodable {
    var name: String?
    var provider: String?
    var secret: String?
    var providerKeyID: String?
    var keyExpiry: String?
    var targets: [TargetBody]?
    var schedule: ScheduleBody?
    var labels: [String: String]?
    var managerCredentialID: String?
    var subject: String?

    enum CodingKeys: String, CodingKey {
        case name, provider, secret
        case providerKeyID = "provider_key_id"
        case keyExpiry = "key_expiry"
        case targets, schedule, labels
        case managerCredentialID = "manager_credential_id"
        case subject
    }
}

/// One entry of `targets` in a create or patch body.
struct TargetBody: Decodable {
    var type: String?
    var url: String?
    var signingSecret: String?
    var verifyURL: String?
    var group: String?
    var minLive: Int?
    var verifyTimeout: String?

    enum CodingKeys: String, CodingKey {
        case type, url, group
        case signingSecret = "signing_secret"
        case verifyURL = "verify_url"
        case minLive = "min_live"
        case verifyTimeout = "verify_timeout"
    }
}

/// `schedule` in a create or patch body.
struct ScheduleBody: Decodable {
    var every: String?
    var beforeExpiry: String?

    enum CodingKeys: String, CodingKey {
        case every
        case beforeExpiry = "before_expiry"
    }
}

/// `PATCH /v1/credentials/{id}`: every member optional; `schedule: null` clears the schedule,
/// which is why absence and null are told apart.
struct CredentialPatchBody: Decodable {
    enum Change<Value> {
        case absent
        case null
        case value(Value)
    }

    var targets: [TargetBody]?
    var schedule: Change<ScheduleBody> = .absent
    var labels: [String: String]?
    var state: String?

    enum CodingKeys: String, CodingKey {
        case targets, schedule, labels, state
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // Only `schedule` may be null (it clears the schedule); a null anywhere else is an error
        // rather than "unchanged", so a client that meant to clear something hears that it did not.
        self.targets = container.contains(.targets) ? try container.decode([TargetBody].self, forKey: .targets) : nil
        self.labels = container.contains(.labels) ? try container.decode([String: String].self, forKey: .labels) : nil
        self.state = container.contains(.state) ? try container.decode(String.self, forKey: .state) : nil
        if container.contains(.schedule) {
            if try container.decodeNil(forKey: .schedule) {
                self.schedule = .null
            } else {
                self.schedule = .value(try container.decode(ScheduleBody.self, forKey: .schedule))
            }
        }
    }

    /// Whether the body asks for no change at all (`{}`, or only unknown members).
    var isEmpty: Bool {
        if case .absent = self.schedule {
            return self.targets == nil && self.labels == nil && self.state == nil
        }
        return false
    }
}

// MARK: - Responses

/// A credential as the API shows it (DESIGN.md §4): metadata only. Optional members are always
/// present, as null when unset. `signingSecrets` holds the target signing secrets Rotor has just
/// generated; they are shown in the create/patch response only, never read back.
struct CredentialResource: Encodable {
    var credential: Credential
    var generatedSigningSecrets: [TargetID: String] = [:]

    enum CodingKeys: String, CodingKey {
        case id, name, provider, state, version, current, previous, targets, schedule
        case keyExpiry = "key_expiry"
        case nextRotationAt = "next_rotation_at"
        case lastRotatedAt = "last_rotated_at"
        case labels
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case managerCredentialID = "manager_credential_id"
        case subject
    }

    func encode(to encoder: any Encoder) throws {
        let credential = self.credential
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(credential.id, forKey: .id)
        try container.encode(credential.name, forKey: .name)
        try container.encode(credential.provider, forKey: .provider)
        try container.encode(credential.state, forKey: .state)
        try container.encode(credential.version, forKey: .version)
        try container.encode(KeyInfoResource(key: credential.current), forKey: .current)
        try container.encode(credential.previous.map(KeyInfoResource.init(key:)), forKey: .previous)
        try container.encode(
            credential.targets.map { TargetResource(target: $0, signingSecret: self.generatedSigningSecrets[$0.id]) },
            forKey: .targets
        )
        try container.encode(credential.schedule.map(ScheduleResource.init(schedule:)), forKey: .schedule)
        try container.encode(credential.keyExpiry, forKey: .keyExpiry)
        try container.encode(credential.nextRotationAt, forKey: .nextRotationAt)
        try container.encode(credential.lastRotatedAt, forKey: .lastRotatedAt)
        try container.encode(credential.labels, forKey: .labels)
        try container.encode(credential.createdAt, forKey: .createdAt)
        try container.encode(credential.updatedAt, forKey: .updatedAt)
        try container.encode(credential.managerCredentialID, forKey: .managerCredentialID)
        try container.encode(credential.subject, forKey: .subject)
    }
}

/// `{provider_key_id, fingerprint, created_at, expires_at}` with `expires_at` always present.
struct KeyInfoResource: Encodable {
    var key: KeyInfo

    enum CodingKeys: String, CodingKey {
        case providerKeyID = "provider_key_id"
        case fingerprint
        case createdAt = "created_at"
        case expiresAt = "expires_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.key.providerKeyID, forKey: .providerKeyID)
        try container.encode(self.key.fingerprint, forKey: .fingerprint)
        try container.encode(self.key.createdAt, forKey: .createdAt)
        try container.encode(self.key.expiresAt, forKey: .expiresAt)
    }
}

/// `{id, type, url, verify_url, previous_secret_expires_at}`, plus `signing_secret` when Rotor
/// has just generated it.
struct TargetResource: Encodable {
    var target: Target
    var signingSecret: String?

    enum CodingKeys: String, CodingKey {
        case id, type, url, group
        case verifyURL = "verify_url"
        case previousSecretExpiresAt = "previous_secret_expires_at"
        case signingSecret = "signing_secret"
        case minLive = "min_live"
        case verifyTimeout = "verify_timeout"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.target.id, forKey: .id)
        try container.encode(self.target.type, forKey: .type)
        if self.target.type == .agent {
            // `{id, type, group, min_live, verify_timeout}`: an agent target has no URL or secret.
            try container.encode(self.target.group, forKey: .group)
            try container.encode(self.target.minLive ?? 1, forKey: .minLive)
            try container.encode(self.target.verifyTimeout, forKey: .verifyTimeout)
            return
        }
        try container.encode(self.target.url, forKey: .url)
        try container.encode(self.target.verifyURL, forKey: .verifyURL)
        try container.encode(self.target.previousSecretExpiresAt, forKey: .previousSecretExpiresAt)
        try container.encodeIfPresent(self.signingSecret, forKey: .signingSecret)
    }
}

/// `{every, before_expiry}` with both members always present.
struct ScheduleResource: Encodable {
    var schedule: Schedule

    enum CodingKeys: String, CodingKey {
        case every
        case beforeExpiry = "before_expiry"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.schedule.every, forKey: .every)
        try container.encode(self.schedule.beforeExpiry, forKey: .beforeExpiry)
    }
}
