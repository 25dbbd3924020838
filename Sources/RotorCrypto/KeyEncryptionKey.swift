/// A 256-bit key-encryption key (KEK): wraps the per-value data keys of envelopes.
///
/// The key bytes are not public. `description`, `debugDescription` and the reflection mirror
/// show only the id, so interpolating or `dump`ing a key cannot leak it into a log.
/// Deliberately not `Equatable`: comparing keys with `==` would not be constant-time.
public struct KeyEncryptionKey: Sendable {
    /// The id envelopes record to name this key: 1–64 characters of `[A-Za-z0-9._-]`.
    public let id: String

    /// The 32 key bytes. Internal: only Envelope and Keyring serialisation read them.
    let bytes: [UInt8]

    /// A key from existing key material, e.g. one imported from another keyring.
    ///
    /// - Throws: ``CryptoError`` with code `invalidKeyring` if `id` is not a valid key id, or
    ///   `invalidKeyLength` if `keyBytes` is not 32 bytes.
    public init(id: String, keyBytes: some Collection<UInt8>) throws {
        guard Keyring.isValidKeyID(id) else {
            throw CryptoError.invalidKeyring("key id is invalid: \(Keyring.keyIDRule)")
        }
        let bytes = Array(keyBytes)
        guard bytes.count == AES256GCM.keyByteCount else {
            throw CryptoError.invalidKeyLength(expected: AES256GCM.keyByteCount, actual: bytes.count)
        }
        self.init(validatedID: id, bytes: bytes)
    }

    init(validatedID id: String, bytes: [UInt8]) {
        self.id = id
        self.bytes = bytes
    }
}

extension KeyEncryptionKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The id only; the key bytes are redacted.
    public var description: String { "KeyEncryptionKey(id: \(id), key: <redacted>)" }

    /// The id only; the key bytes are redacted.
    public var debugDescription: String { description }

    /// A mirror that shows the id only, so `dump` and debuggers' summaries cannot print the key.
    public var customMirror: Mirror {
        Mirror(self, children: ["id": id, "key": "<redacted>"], displayStyle: .struct)
    }
}
