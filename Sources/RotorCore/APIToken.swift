public import Foundation

/// What a token may do (DESIGN.md §4, Tokens and audit).
public enum TokenScope: String, Sendable, Hashable, Codable, CaseIterable {
    /// Everything except reading secrets: triggers, subscriptions, tokens, audit, and every
    /// other scope's routes.
    case admin
    /// `GET` on credentials.
    case credentialsRead = "credentials:read"
    /// Creating, patching and deleting credentials, rolling target secrets.
    case credentialsWrite = "credentials:write"
    /// `GET` on jobs, their events and deliveries.
    case jobsRead = "jobs:read"
    /// Starting and cancelling jobs.
    case jobsWrite = "jobs:write"
    /// `GET /v1/credentials/{id}/secret` on the credentials the token is bound to. Not implied by
    /// `admin`: pulling a key is a consumer's right, granted one credential at a time.
    case secretsRead = "secrets:read"
    /// Adding targets to a credential or changing a target's `url` or `verify_url`: where the
    /// next new key is sent, as sensitive as reading it. Needed besides `credentials:write`;
    /// `secrets:read` on the credential also grants it, and `admin` implies it.
    case targetsWrite = "targets:write"
    /// What `rotor agent` needs on the credentials the token is bound to: reading the key it is
    /// to apply (current, or pending during a rotation) and acknowledging it; nothing else. Not
    /// implied by `admin`, for the reason `secrets:read` is not.
    case agent
}

/// A stored bearer token's metadata. The token itself is never stored, only its SHA-256.
public struct APIToken: Sendable, Hashable {
    /// The id (`tok_…`).
    public var id: TokenID
    /// A human-readable name.
    public var name: String
    /// What it may do.
    public var scopes: [TokenScope]
    /// The credentials it may act on; nil for all.
    public var credentialIDs: [CredentialID]?
    /// When it stops working; nil for never.
    public var expiresAt: Date?
    /// When it was made.
    public var createdAt: Date

    /// Creates the metadata.
    public init(id: TokenID, name: String, scopes: [TokenScope], credentialIDs: [CredentialID]?, expiresAt: Date?, createdAt: Date) {
        self.id = id
        self.name = name
        self.scopes = scopes
        self.credentialIDs = credentialIDs
        self.expiresAt = expiresAt
        self.createdAt = createdAt
    }

    /// Whether the token still works at `now`.
    public func isValid(at now: Date) -> Bool {
        self.expiresAt.map { now < $0 } ?? true
    }
}
