import NIOCore
import PostgresNIO
import RotorCore
import RotorCrypto
import RotorStorage

extension PostgresStore {
    /// Seals `secret` under the next version of (owner, field) and stores it in place of the old
    /// one. The row lock keeps two writers from sealing under the same version.
    func putSecret(_ tx: Transaction, owner: String, field: String, _ secret: Secret) async throws {
        let stored = try await tx.rows(Prepared.SecretVersion(owner: owner, field: field)).first
        let version = (try stored?.int("version") ?? 0) + 1
        let sealed = try StoredEnvelope(sealing: secret, owner: owner, field: field, version: version, keyring: self.keyring)
        try await tx.run(Prepared.PutSecret(owner: owner, field: field, version: version, envelope: sealed.bytes))
        if field == EnvelopeField.currentKey {
            try await Self.indexCurrentKey(tx, owner: owner, secret)
        }
    }

    /// Removes the value but keeps the row's version as a tombstone, so that a value set again
    /// later gets a version never used before and no older envelope can be put back in its place.
    func deleteSecret(_ tx: Transaction, owner: String, field: String) async throws {
        try await tx.run(Prepared.ClearSecret(owner: owner, field: field))
        if field == EnvelopeField.currentKey {
            try await Self.indexCurrentKey(tx, owner: owner, nil)
        }
    }

    func apply(_ write: SecretWrite, _ tx: Transaction) async throws {
        switch write.change {
        case .unchanged: return
        case .set(let secret): try await self.putSecret(tx, owner: write.owner, field: write.field, secret)
        case .clear: try await self.deleteSecret(tx, owner: write.owner, field: write.field)
        }
    }

    func fetchSecret(_ tx: Transaction, owner: String, field: String) async throws -> Secret? {
        guard
            let row = try await tx.rows(
                "SELECT version, envelope FROM secrets WHERE owner_id = \(owner) AND field = \(field) AND envelope IS NOT NULL"
            ).first
        else { return nil }
        return try self.openSecret(row, owner: owner, field: field)
    }

    private func openSecret(_ row: PostgresRandomAccessRow, owner: String, field: String) throws -> Secret {
        try self.open(SealedSecret(owner: owner, field: field, version: try row.int("version"), envelope: try row.bytes("envelope")))
    }

    func open(_ sealed: SealedSecret) throws -> Secret {
        try StoredEnvelope(owner: sealed.owner, field: sealed.field, version: sealed.version, bytes: sealed.envelope).open(keyring: self.keyring)
    }

    /// The credential's secrets; a credential without a stored current key is corrupt.
    func fetchCredentialSecrets(_ tx: Transaction, _ id: CredentialID) async throws -> CredentialSecrets {
        let rows = try await tx.rows("SELECT field, version, envelope FROM secrets WHERE owner_id = \(id.rawValue) AND envelope IS NOT NULL")
        return try self.credentialSecrets(
            id,
            try rows.map { SealedSecret(owner: id.rawValue, field: try $0.string("field"), version: try $0.int("version"), envelope: try $0.bytes("envelope")) })
    }

    /// The credential's secrets, opened from its sealed rows.
    func credentialSecrets(_ id: CredentialID, _ sealed: [SealedSecret]) throws -> CredentialSecrets {
        guard let secrets = CredentialSecrets(fields: try sealed.map { ($0.field, try self.open($0)) }) else {
            throw PostgresStoreError("credential \(id) has no stored current key")
        }
        return secrets
    }
}

/// A stored secret as read, before it is opened.
struct SealedSecret {
    var owner: String
    var field: String
    var version: Int
    var envelope: [UInt8]

    init(owner: String, field: String, version: Int, envelope: [UInt8]) {
        self.owner = owner
        self.field = field
        self.version = version
        self.envelope = envelope
    }

    /// Every secret a ``Prepared/RotationRead`` row carries, from its parallel arrays (NULL when
    /// there is none).
    static func all(in row: PostgresRandomAccessRow) throws -> [SealedSecret] {
        let owners = try row["secret_owners"].decode([String]?.self) ?? []
        let fields = try row["secret_fields"].decode([String]?.self) ?? []
        let versions = try row["secret_versions"].decode([Int]?.self) ?? []
        let envelopes = try row["secret_envelopes"].decode([ByteBuffer]?.self) ?? []
        return owners.indices.map { index in
            SealedSecret(owner: owners[index], field: fields[index], version: versions[index], envelope: Array(envelopes[index].readableBytesView))
        }
    }
}
