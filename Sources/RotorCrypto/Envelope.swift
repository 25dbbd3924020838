/// Envelope encryption for Rotor's secrets at rest (DESIGN.md §3).
///
/// Every value gets its own random 256-bit data key (DEK). The DEK encrypts the value with
/// AES-256-GCM, and the keyring's active key-encryption key (KEK) wraps the DEK, also with
/// AES-256-GCM. The envelope names its KEK, so the keyring can rotate: ``rewrap(_:context:keyring:)``
/// re-wraps the 32-byte DEK under a new KEK without touching the encrypted value.
///
/// ## Binary format, version 1
///
/// ```
/// offset   size  field
/// 0        3     magic "RTE" (0x52 0x54 0x45)
/// 3        1     format version 0x01
/// 4        1     n, the length of the KEK id (1...64)
/// 5        n     KEK id, ASCII [A-Za-z0-9._-]
/// 5+n      12    DEK-wrap nonce
/// 17+n     32    wrapped DEK (AES-256-GCM ciphertext of the DEK under the KEK)
/// 49+n     16    DEK-wrap tag
/// 65+n     12    value nonce
/// 77+n     m     value ciphertext (AES-256-GCM under the DEK; m = plaintext length)
/// 77+n+m   16    value tag
/// ```
///
/// An envelope is 93 + n + m bytes.
///
/// ## Associated data
///
/// ```
/// wrap AAD  = "RTE" || 0x01 || 0x01 || lp(kekID) || lp(recordID) || lp(field) || be64(version)
/// value AAD = "RTE" || 0x01 || 0x02 || lp(recordID) || lp(field) || be64(version)
/// lp(s)     = be32(UTF-8 byte count of s) || UTF-8 bytes of s
/// ```
///
/// The length prefixes make the encoding injective (record "a", field "bc" cannot pose as record
/// "ab", field "c"); the purpose byte (0x01 wrap, 0x02 value) keeps the two inputs distinct.
/// Binding the context to both layers means an envelope copied to another record, field or
/// version fails to open, and so does a DEK spliced from another envelope. The KEK id is bound
/// to the wrap only: the value layer must stay valid when ``rewrap(_:context:keyring:)`` changes
/// the KEK. Magic and version are checked while parsing and are part of both AADs, so every byte
/// of an envelope is authenticated: changing any one makes ``open(_:context:keyring:)`` throw.
public enum Envelope {
    /// The format version this build writes and reads.
    static let formatVersion: UInt8 = 1
    static let magic: [UInt8] = Array("RTE".utf8)

    private static let wrapPurpose: UInt8 = 0x01
    private static let valuePurpose: UInt8 = 0x02
    private static let headerFixedSize = magic.count + 2
    private static let wrappedKeySize = AES256GCM.nonceByteCount + AES256GCM.keyByteCount + AES256GCM.tagByteCount
    private static let sealedOverhead = AES256GCM.nonceByteCount + AES256GCM.tagByteCount

    /// Encrypts `plaintext` under a fresh data key wrapped by the keyring's active KEK, bound to
    /// `context`.
    ///
    /// - Throws: ``CryptoError`` if OpenSSL fails.
    public static func seal(
        _ plaintext: some Collection<UInt8>,
        context: EnvelopeContext,
        keyring: Keyring
    ) throws -> [UInt8] {
        let kek = keyring.activeKey
        var dataKey = SecureRandom.bytes(count: AES256GCM.keyByteCount)
        defer { OpenSSL.cleanse(&dataKey) }

        let value = try AES256GCM.seal(plaintext, key: dataKey, authenticating: valueAAD(context))
        let wrappedKey = try AES256GCM.seal(dataKey, key: kek.bytes, authenticating: wrapAAD(kekID: kek.id, context))
        return assemble(kekID: kek.id, wrappedKey: wrappedKey, valueSection: value.combined[...])
    }

    /// Decrypts an envelope sealed with the same `context`, using whichever KEK it names.
    ///
    /// - Throws: ``CryptoError`` with code `unknownKey` (naming the id) if the keyring lacks the
    ///   envelope's KEK; `authenticationFailed` if the context, the KEK or any byte is wrong;
    ///   `malformedEnvelope` or `unsupportedEnvelopeVersion` if the bytes are not an envelope
    ///   this build can read.
    public static func open(_ envelope: [UInt8], context: EnvelopeContext, keyring: Keyring) throws -> [UInt8] {
        let parsed = try parse(envelope)
        var dataKey = try unwrapDataKey(parsed, context: context, keyring: keyring)
        defer { OpenSSL.cleanse(&dataKey) }
        return try AES256GCM.open(parsed.value, key: dataKey, authenticating: valueAAD(context))
    }

    /// The id of the KEK that `envelope`'s data key is wrapped under, e.g. to find envelopes that
    /// still need ``rewrap(_:context:keyring:)`` before an old KEK is removed.
    ///
    /// The id is read from the unauthenticated header; it is only a hint until the envelope opens.
    ///
    /// - Throws: ``CryptoError`` with code `malformedEnvelope` or `unsupportedEnvelopeVersion`.
    public static func kekID(of envelope: [UInt8]) throws -> String {
        try parse(envelope).kekID
    }

    /// Re-wraps the envelope's data key under the keyring's active KEK; the value ciphertext is
    /// carried over byte for byte.
    ///
    /// Returns `envelope` unchanged if it already names the active KEK, so running
    /// `rotor keyring rewrap` twice is harmless.
    ///
    /// - Throws: like ``open(_:context:keyring:)`` for the DEK layer: `unknownKey` if the
    ///   envelope's KEK is missing, `authenticationFailed` if the context or the wrapped key is
    ///   wrong.
    public static func rewrap(_ envelope: [UInt8], context: EnvelopeContext, keyring: Keyring) throws -> [UInt8] {
        let parsed = try parse(envelope)
        guard parsed.kekID != keyring.activeKeyID else { return envelope }

        var dataKey = try unwrapDataKey(parsed, context: context, keyring: keyring)
        defer { OpenSSL.cleanse(&dataKey) }
        let kek = keyring.activeKey
        let wrappedKey = try AES256GCM.seal(dataKey, key: kek.bytes, authenticating: wrapAAD(kekID: kek.id, context))
        return assemble(kekID: kek.id, wrappedKey: wrappedKey, valueSection: envelope[parsed.valueOffset...])
    }

    // MARK: - Layout

    private struct Parsed {
        var kekID: String
        var wrappedKey: AES256GCM.SealedBox
        var value: AES256GCM.SealedBox
        /// Where the value nonce starts; everything from here on is the value layer.
        var valueOffset: Int
    }

    private static func parse(_ envelope: [UInt8]) throws -> Parsed {
        guard envelope.count >= headerFixedSize else {
            throw CryptoError.malformedEnvelope("\(envelope.count) bytes is too short for an envelope header")
        }
        guard envelope[..<magic.count].elementsEqual(magic) else {
            throw CryptoError.malformedEnvelope("not a Rotor envelope (bad magic)")
        }
        let version = envelope[magic.count]
        guard version == formatVersion else { throw CryptoError.unsupportedEnvelopeVersion(version) }

        let idLength = Int(envelope[magic.count + 1])
        guard (1...Keyring.maxKeyIDLength).contains(idLength) else {
            throw CryptoError.malformedEnvelope("key id length \(idLength) is out of range")
        }
        let idStart = headerFixedSize
        let wrapStart = idStart + idLength
        let valueStart = wrapStart + wrappedKeySize
        guard envelope.count >= valueStart + sealedOverhead else {
            throw CryptoError.malformedEnvelope("\(envelope.count) bytes is too short (truncated envelope)")
        }
        // Validated before use so that an error naming the id cannot carry arbitrary bytes.
        let kekID = String(decoding: envelope[idStart..<wrapStart], as: UTF8.self)
        guard Keyring.isValidKeyID(kekID) else {
            throw CryptoError.malformedEnvelope("key id contains characters outside [A-Za-z0-9._-]")
        }

        func slice(_ start: Int, _ count: Int) -> [UInt8] { Array(envelope[start..<(start + count)]) }
        let keyCiphertextStart = wrapStart + AES256GCM.nonceByteCount
        let wrappedKey = AES256GCM.SealedBox(
            validatedNonce: slice(wrapStart, AES256GCM.nonceByteCount),
            ciphertext: slice(keyCiphertextStart, AES256GCM.keyByteCount),
            tag: slice(keyCiphertextStart + AES256GCM.keyByteCount, AES256GCM.tagByteCount)
        )
        let value = try AES256GCM.SealedBox(combined: envelope[valueStart...])
        return Parsed(kekID: kekID, wrappedKey: wrappedKey, value: value, valueOffset: valueStart)
    }

    private static func assemble(
        kekID: String,
        wrappedKey: AES256GCM.SealedBox,
        valueSection: ArraySlice<UInt8>
    ) -> [UInt8] {
        let id = Array(kekID.utf8)
        var envelope: [UInt8] = []
        envelope.reserveCapacity(headerFixedSize + id.count + wrappedKeySize + valueSection.count)
        envelope += magic
        envelope.append(formatVersion)
        envelope.append(UInt8(id.count))  // Keyring ids are at most 64 bytes.
        envelope += id
        envelope += wrappedKey.nonce
        envelope += wrappedKey.ciphertext
        envelope += wrappedKey.tag
        envelope += valueSection
        return envelope
    }

    private static func unwrapDataKey(_ parsed: Parsed, context: EnvelopeContext, keyring: Keyring) throws -> [UInt8] {
        guard let kek = keyring.key(id: parsed.kekID) else { throw CryptoError.unknownKey(parsed.kekID) }
        return try AES256GCM.open(parsed.wrappedKey, key: kek.bytes, authenticating: wrapAAD(kekID: kek.id, context))
    }

    // MARK: - Associated data

    private static func wrapAAD(kekID: String, _ context: EnvelopeContext) -> [UInt8] {
        var aad = magic + [formatVersion, wrapPurpose]
        appendLengthPrefixed(kekID, to: &aad)
        appendContext(context, to: &aad)
        return aad
    }

    private static func valueAAD(_ context: EnvelopeContext) -> [UInt8] {
        var aad = magic + [formatVersion, valuePurpose]
        appendContext(context, to: &aad)
        return aad
    }

    private static func appendContext(_ context: EnvelopeContext, to aad: inout [UInt8]) {
        appendLengthPrefixed(context.recordID, to: &aad)
        appendLengthPrefixed(context.field, to: &aad)
        withUnsafeBytes(of: Int64(context.version).bigEndian) { aad += $0 }
    }

    private static func appendLengthPrefixed(_ string: String, to aad: inout [UInt8]) {
        let bytes = Array(string.utf8)
        withUnsafeBytes(of: UInt32(bytes.count).bigEndian) { aad += $0 }
        aad += bytes
    }
}
