import Foundation
import RotorCore

/// `POST /v1/tokens`. Members are optional so that every missing one is reported at once.
struct TokenCreateBody: Decodable {
    var name: String?
    var scopes: [String]?
    var credentialIDs: [String]?
    var expiresAt: String?

    enum CodingKeys: String, CodingKey {
        case name, scopes
        case credentialIDs = "credential_ids"
        case expiresAt = "expires_at"
    }
}

/// A token as the API shows it; `token` only in the create answer.
struct TokenResource: Encodable {
    let token: APIToken
    var value: String?

    enum CodingKeys: String, CodingKey {
        case id, name, scopes, token
        case credentialIDs = "credential_ids"
        case expiresAt = "expires_at"
        case createdAt = "created_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.token.id, forKey: .id)
        try container.encode(self.token.name, forKey: .name)
        try container.encode(self.token.scopes.map(\.rawValue), forKey: .scopes)
        try container.encode(self.token.credentialIDs, forKey: .credentialIDs)
        try container.encode(self.token.expiresAt, forKey: .expiresAt)
        try container.encode(self.token.createdAt, forKey: .createdAt)
        try container.encodeIfPresent(self.value, forKey: .token)
    }
}

/// One audit entry as `GET /v1/audit` shows it.
struct AuditEntryResource: Encodable {
    let entry: AuditEntry

    enum CodingKeys: String, CodingKey {
        case seq, at, actor, action, resource, outcome, hash
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.entry.seq, forKey: .seq)
        try container.encode(self.entry.record.at, forKey: .at)
        try container.encode(self.entry.record.actor, forKey: .actor)
        try container.encode(self.entry.record.action, forKey: .action)
        try container.encode(self.entry.record.resource, forKey: .resource)
        try container.encode(self.entry.record.outcome, forKey: .outcome)
        try container.encode(self.entry.hash, forKey: .hash)
    }
}

/// `GET /v1/audit`: a page of entries and a checkpoint of the log's newest entry (null while
/// the log is empty).
struct AuditListResponse: Encodable {
    var data: [AuditEntryResource]
    var nextCursor: String?
    var checkpoint: AuditCheckpoint?

    enum CodingKeys: String, CodingKey {
        case data, checkpoint
        case nextCursor = "next_cursor"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.data, forKey: .data)
        // Both always present, null when there is none.
        try container.encode(self.nextCursor, forKey: .nextCursor)
        try container.encode(self.checkpoint, forKey: .checkpoint)
    }
}

/// `GET /v1/credentials/{id}/secret`.
struct SecretResponse: Encodable {
    var secret: String
    var version: Int
}
