public import Foundation

/// Rolling a target's webhook signing secret (DESIGN.md §4, Targets), apart from ``Store`` so
/// that stores grow by concern.
public protocol TargetSecretStore: Sendable {
    /// Makes `secret` the target's signing secret. With `overlapUntil`, the old secret is kept
    /// (encrypted) and deliveries are signed with both until then; without, it is removed at once.
    /// Returns the credential as stored. Throws ``StoreError/Code/notFound`` for an unknown
    /// credential or target.
    func rollSigningSecret(
        credential: CredentialID,
        target: TargetID,
        to secret: Secret,
        overlapUntil: Date?,
        at now: Date
    ) async throws -> Credential
}
