package import Foundation

/// A provider key as the stores compare it with the keys other credentials hold, so that one key
/// is managed by one credential only: rotating one of two credentials on the same key would
/// delete the key the other still serves as current.
///
/// A key is held by a credential as its current or previous key, or as the new key of its active
/// job (which becomes current at `grace`, so a rotation cannot produce a second holder). Two keys
/// are the same when the provider and a provider key id match, or a fingerprint matches, or
/// (for current keys, whose full digest the store keeps) the SHA-256 matches.
package struct HeldKey: Sendable, Hashable {
    /// The provider.
    package var provider: String
    /// The provider's ids of the keys the credential brings.
    package var providerKeyIDs: [String]
    /// Their fingerprints.
    package var fingerprints: [String]
    /// Hex SHA-256 of the current key (`credentials.current_key_sha256`).
    package var currentKeySHA256: String

    /// The keys `credential` brings: its current key, and its previous one if any.
    package init(_ credential: Credential, currentKeySHA256: String) {
        let keys = [credential.current] + (credential.previous.map { [$0] } ?? [])
        self.provider = credential.provider.rawValue
        self.providerKeyIDs = keys.map(\.providerKeyID)
        self.fingerprints = keys.map(\.fingerprint)
        self.currentKeySHA256 = currentKeySHA256
    }

    /// The refusal naming the credential that holds the key.
    package func refusal(heldBy holder: CredentialID) -> StoreError {
        StoreError(.duplicateKey, credentialID: holder, message: "credential \(holder) already holds this provider key")
    }
}
