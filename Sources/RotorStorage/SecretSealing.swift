package import RotorCore
package import RotorCrypto

extension StoredEnvelope {
    /// `secret` sealed for (owner, field, version): the associated data binds all three, so the
    /// envelope opens nowhere else.
    package init(sealing secret: Secret, owner: String, field: String, version: Int, keyring: Keyring) throws {
        let bytes = try Envelope.seal(
            Array(secret.reveal().utf8), context: EnvelopeContext(recordID: owner, field: field, version: version), keyring: keyring)
        self.init(owner: owner, field: field, version: version, bytes: bytes)
    }

    /// The plaintext, opened under the record it belongs to.
    package func open(keyring: Keyring) throws -> Secret {
        Secret(String(decoding: try self.openBytes(keyring: keyring), as: UTF8.self))
    }

    /// The plaintext's bytes (for a digest of the key, say).
    package func openBytes(keyring: Keyring) throws -> [UInt8] {
        try Envelope.open(self.bytes, context: EnvelopeContext(recordID: self.owner, field: self.field, version: self.version), keyring: keyring)
    }
}

extension CredentialSecrets {
    /// A credential's secrets from its opened fields (current and previous key, each target's
    /// signing secret and, during a roll, its previous one); nil without a current key, which
    /// only a corrupt store lacks.
    package init?(fields: [(field: String, secret: Secret)]) {
        var current: Secret?
        var previous: Secret?
        var signing: [TargetID: Secret] = [:]
        var previousSigning: [TargetID: Secret] = [:]
        for (field, secret) in fields {
            switch field {
            case EnvelopeField.currentKey: current = secret
            case EnvelopeField.previousKey: previous = secret
            default:
                if let target = EnvelopeField.previousSigningSecretTarget(field) {
                    previousSigning[target] = secret
                } else if field.hasPrefix(EnvelopeField.signingSecretPrefix) {
                    signing[TargetID(unchecked: String(field.dropFirst(EnvelopeField.signingSecretPrefix.count)))] = secret
                }
            }
        }
        guard let current else { return nil }
        self.init(current: current, previous: previous, signingSecrets: signing, previousSigningSecrets: previousSigning)
    }
}
