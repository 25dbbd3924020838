package import Foundation

// The fields of the API's resources that the CLI shows (openapi.yaml has them all); anything
// else in an answer is ignored, and `--output json` prints the answer itself.

/// A resource the CLI accepts by name wherever it takes an id (the name is looked up in its list).
package protocol Named: Decodable, Sendable {
    /// The id's prefix (`cred`).
    static var idPrefix: String { get }
    /// The list operation that holds every one.
    static var list: Endpoint { get }
    /// What one is called in messages.
    static var noun: String { get }
    var id: String { get }
    /// What the operator knows it by: a credential's or token's name, a trigger's description, a
    /// subscription's URL.
    var name: String? { get }
}

/// `components/schemas/Credential`.
package struct CredentialSummary: Named {
    package static let idPrefix = "cred", list = Endpoint.listCredentials, noun = "credential"
    package var id: String
    package var name: String?
    package var provider: String
    package var state: String
    package var version: Int
    package var current: KeySummary?
    package var schedule: ScheduleSummary?
    /// The ISO 8601 duration new keys are given as their provider expiry.
    package var keyExpiry: String?
    package var nextRotationAt: Date?
    package var lastRotatedAt: Date?
    package var targets: [TargetSummary]?
    package var labels: [String: String]?
    /// For a provider whose keys another credential's key manages (`vultr-user`).
    package var managerCredentialID: String?
    package var subject: String?
    package var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, name, provider, state, version, current, schedule, targets, labels, subject
        case managerCredentialID = "manager_credential_id"
        case keyExpiry = "key_expiry"
        case nextRotationAt = "next_rotation_at"
        case lastRotatedAt = "last_rotated_at"
        case createdAt = "created_at"
    }
}

/// `components/schemas/KeyInfo`.
package struct KeySummary: Decodable, Sendable {
    package var providerKeyID: String?
    package var fingerprint: String?
    package var createdAt: Date?
    package var expiresAt: Date?

    enum CodingKeys: String, CodingKey {
        case fingerprint
        case providerKeyID = "provider_key_id"
        case createdAt = "created_at"
        case expiresAt = "expires_at"
    }
}

/// `components/schemas/Schedule`.
package struct ScheduleSummary: Decodable, Sendable {
    package var every: String?
    package var beforeExpiry: String?

    enum CodingKeys: String, CodingKey {
        case every
        case beforeExpiry = "before_expiry"
    }
}

/// `components/schemas/Target`.
package struct TargetSummary: Decodable, Sendable {
    package var id: String?
    package var type: String?
    package var url: String?
    package var group: String?
}

/// `components/schemas/Job`.
package struct JobSummary: Decodable, Sendable {
    package var id: String
    package var credentialID: String
    package var state: String
    package var step: String
    package var reason: String?
    package var dryRun: Bool
    package var attempt: Int?
    package var createdAt: Date
    package var finishedAt: Date?
    package var error: JobFailure?

    enum CodingKeys: String, CodingKey {
        case id, state, step, reason, attempt, error
        case credentialID = "credential_id"
        case dryRun = "dry_run"
        case createdAt = "created_at"
        case finishedAt = "finished_at"
    }

    /// `succeeded`, `rolled_back`, `cancelled` or `failed`: the job is over.
    package var isTerminal: Bool { ["succeeded", "rolled_back", "cancelled", "failed"].contains(self.state) }
}

/// A job's `error`.
package struct JobFailure: Decodable, Sendable {
    package var code: String
    package var message: String
    package var step: String?
}

/// `components/schemas/JobEvent`.
package struct JobEventSummary: Decodable, Sendable {
    package var seq: Int
    package var at: Date
    package var type: String
    package var step: String?
    package var message: String
}

/// `components/schemas/Token` (and `TokenCreated`, whose `token` is shown once).
package struct TokenSummary: Named {
    package static let idPrefix = "tok", list = Endpoint.listTokens, noun = "token"
    package var id: String
    package var name: String?
    package var scopes: [String]
    package var credentialIDs: [String]?
    package var expiresAt: Date?
    package var createdAt: Date
    package var token: String?

    enum CodingKeys: String, CodingKey {
        case id, name, scopes, token
        case credentialIDs = "credential_ids"
        case expiresAt = "expires_at"
        case createdAt = "created_at"
    }
}

/// `components/schemas/Trigger`.
package struct TriggerSummary: Named {
    package static let idPrefix = "trg", list = Endpoint.listTriggers, noun = "trigger"
    package var id: String
    package var name: String? { self.description }
    package var url: String?
    package var scheme: String?
    package var credentialIDs: [String]?
    package var description: String?
    package var createdAt: Date
    /// The signing secret: only in the answer that made the trigger.
    package var secret: String?
    /// Until when the secret it replaced still verifies, after a roll.
    package var previousSecretExpiresAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, url, scheme, description, secret
        case credentialIDs = "credential_ids"
        case createdAt = "created_at"
        case previousSecretExpiresAt = "previous_secret_expires_at"
    }
}

/// `components/schemas/Subscription`.
package struct SubscriptionSummary: Named {
    package static let idPrefix = "sub", list = Endpoint.listSubscriptions, noun = "subscription"
    package var id: String
    package var name: String? { self.url }
    package var url: String
    package var events: [String]?
    package var createdAt: Date
    /// The signing secret: only in the answer that made the subscription.
    package var secret: String?

    enum CodingKeys: String, CodingKey {
        case id, url, events, secret
        case createdAt = "created_at"
    }
}

/// `components/schemas/AuditEntry`.
package struct AuditEntrySummary: Decodable, Sendable {
    package var seq: Int
    package var at: Date
    package var actor: String
    package var action: String
    package var resource: String?
    package var outcome: String?
}

/// `components/schemas/Principal`.
package struct PrincipalSummary: Decodable, Sendable {
    package var id: String?
    package var name: String?
    package var scopes: [String]?
}

/// A list answer: `{"data": [...], "next_cursor": ...}`.
package struct Page<Item: Decodable & Sendable>: Decodable, Sendable {
    package var data: [Item]
    package var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case data
        case nextCursor = "next_cursor"
    }
}

/// `components/schemas/Problem`: what the API says went wrong.
package struct Problem: Decodable, Sendable {
    package var title: String?
    package var status: Int?
    package var code: String?
    package var detail: String?
    package var jobID: String?
    package var errors: [FieldError]?

    /// One entry of `errors`.
    package struct FieldError: Decodable, Sendable {
        package var field: String?
        package var message: String?
    }

    enum CodingKeys: String, CodingKey {
        case title, status, code, detail, errors
        case jobID = "job_id"
    }
}
