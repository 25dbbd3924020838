public import Foundation

/// An inbound trigger: a URL (`/v1/hooks/{id}`) that a signed webhook calls to rotate the
/// credentials bound to it (DESIGN.md §4, Inbound triggers).
///
/// Its signing secret is not part of the value; the store keeps it sealed and hands it out only
/// through ``TriggerStore/triggerSecrets(_:at:)``.
public struct WebhookTrigger: Sendable, Hashable {
    /// How a caller signs its requests.
    public enum Scheme: String, Sendable, Hashable, Codable, CaseIterable {
        /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`,
        /// a `whsec_` secret and a 5-minute timestamp tolerance.
        case standardWebhooks = "standard-webhooks"
        /// GitHub: `X-Hub-Signature-256: sha256=<hex>`, replays keyed by `X-GitHub-Delivery`.
        case github
    }

    /// The id.
    public var id: TriggerID
    /// The signature scheme.
    public var scheme: Scheme
    /// The credentials a verified call rotates, in the order given.
    public var credentialIDs: [CredentialID]
    /// What it is for, as the operator put it.
    public var description: String?
    /// Created.
    public var createdAt: Date
    /// Last change (a secret roll).
    public var updatedAt: Date
    /// Until when the secret replaced by the last roll still verifies; nil when there is none.
    public var previousSecretExpiresAt: Date?

    /// Creates a trigger.
    public init(
        id: TriggerID = .generate(),
        scheme: Scheme,
        credentialIDs: [CredentialID],
        description: String? = nil,
        createdAt: Date,
        updatedAt: Date? = nil,
        previousSecretExpiresAt: Date? = nil
    ) {
        self.id = id
        self.scheme = scheme
        self.credentialIDs = credentialIDs
        self.description = description
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.previousSecretExpiresAt = previousSecretExpiresAt
    }
}
