import Foundation
import RotorCore

/// `POST /v1/triggers`. Members are optional so that every missing one is reported at once.
struct TriggerCreateBody: Decodable {
    var scheme: String?
    var credentialIDs: [String]?
    var description: String?

    enum CodingKeys: String, CodingKey {
        case scheme, description
        case credentialIDs = "credential_ids"
    }
}

/// `POST /v1/triggers/{id}/roll-secret`; the body may be absent.
struct TriggerRollBody: Decodable {
    var overlap: ISODuration?
}

/// A trigger as the API shows it; `secret` only in the answers that made it.
struct TriggerResource: Encodable {
    let trigger: WebhookTrigger
    var secret: String?

    enum CodingKeys: String, CodingKey {
        case id, url, scheme, description, secret
        case credentialIDs = "credential_ids"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case previousSecretExpiresAt = "previous_secret_expires_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.trigger.id, forKey: .id)
        try container.encode("/v1/hooks/\(self.trigger.id.rawValue)", forKey: .url)
        try container.encode(self.trigger.scheme, forKey: .scheme)
        try container.encode(self.trigger.credentialIDs, forKey: .credentialIDs)
        try container.encode(self.trigger.description, forKey: .description)
        try container.encode(self.trigger.createdAt, forKey: .createdAt)
        try container.encode(self.trigger.updatedAt, forKey: .updatedAt)
        try container.encode(self.trigger.previousSecretExpiresAt, forKey: .previousSecretExpiresAt)
        try container.encodeIfPresent(self.secret, forKey: .secret)
    }
}

/// `POST /v1/hooks/{id}`'s answer: the jobs the delivery started or joined.
struct HookResponse: Encodable {
    var jobs: [JobResource]
    /// True when this delivery id was seen before and nothing was started.
    var replayed: Bool
}

/// One entry of a GitHub secret-scanning report.
struct LeakReportItem: Decodable {
    var token: String
    var type: String?
    var url: String?
    var source: String?
}

/// One entry of the answer to GitHub.
struct LeakLabel: Encodable {
    var tokenHash: String
    var tokenType: String?
    var label: String

    enum CodingKeys: String, CodingKey {
        case tokenHash = "token_hash"
        case tokenType = "token_type"
        case label
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.tokenHash, forKey: .tokenHash)
        try container.encode(self.tokenType, forKey: .tokenType)
        try container.encode(self.label, forKey: .label)
    }
}
