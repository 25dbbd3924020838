import COpenSSL

/// AES-256-GCM authenticated encryption (NIST SP 800-38D) through OpenSSL's EVP interface.
///
/// Rotor uses 96-bit nonces and 128-bit tags only: the sizes GCM is designed and analysed for.
/// With random nonces a key must not seal more than about 2^32 messages; envelope encryption
/// keeps each data key to one message, so that bound is never approached.
public enum AES256GCM {
    /// The key length in bytes.
    public static let keyByteCount = 32
    /// The nonce length in bytes.
    public static let nonceByteCount = 12
    /// The authentication tag length in bytes.
    public static let tagByteCount = 16

    /// Encrypts and authenticates `plaintext`, also authenticating (not encrypting) `aad`.
    ///
    /// - Parameters:
    ///   - key: 32 bytes.
    ///   - nonce: 12 bytes, never reused with the same key; `nil` draws a random one, which is
    ///     what callers should do unless they are reproducing a test vector.
    /// - Throws: ``CryptoError`` with code `invalidKeyLength` or `invalidNonceLength` for wrong
    ///   sizes, or `openSSL` if OpenSSL fails.
    public static func seal(
        _ plaintext: some Collection<UInt8>,
        key: [UInt8],
        nonce: [UInt8]? = nil,
        authenticating aad: [UInt8] = []
    ) throws -> SealedBox {
        try checkKey(key)
        let nonce = nonce ?? SecureRandom.bytes(count: nonceByteCount)
        try checkNonce(nonce)

        guard let context = EVP_CIPHER_CTX_new() else { throw OpenSSL.error("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(context) }

        try OpenSSL.check(EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil), "EVP_EncryptInit_ex")
        try OpenSSL.check(
            COpenSSL_EVP_CIPHER_CTX_set_gcm_ivlen(context, Int32(nonceByteCount)),
            "EVP_CIPHER_CTX_ctrl(GCM_SET_IVLEN)"
        )
        try key.withNonNullBytes { keyPointer, _ in
            try nonce.withNonNullBytes { noncePointer, _ in
                try OpenSSL.check(
                    EVP_EncryptInit_ex(context, nil, nil, keyPointer, noncePointer),
                    "EVP_EncryptInit_ex"
                )
            }
        }
        try addAssociatedData(aad, to: context, update: EVP_EncryptUpdate, operation: "EVP_EncryptUpdate(AAD)")

        let ciphertext = try plaintext.withNonNullBytes { input, count in
            let length = try OpenSSL.int32Length(count)
            return try [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
                if count > 0 {
                    var written: Int32 = 0
                    try OpenSSL.check(
                        EVP_EncryptUpdate(context, output.baseAddress, &written, input, length),
                        "EVP_EncryptUpdate"
                    )
                    // GCM is a stream mode: anything else means OpenSSL buffered, which it never should.
                    guard written == length else { throw OpenSSL.error("EVP_EncryptUpdate (short write)") }
                }
                initialized = count
            }
        }

        // GCM's final step emits no bytes, but OpenSSL still wants a writable pointer.
        var finalBlock = [UInt8](repeating: 0, count: tagByteCount)
        var finalLength: Int32 = 0
        try OpenSSL.check(EVP_EncryptFinal_ex(context, &finalBlock, &finalLength), "EVP_EncryptFinal_ex")
        guard finalLength == 0 else { throw OpenSSL.error("EVP_EncryptFinal_ex (unexpected output)") }

        var tag = [UInt8](repeating: 0, count: tagByteCount)
        try OpenSSL.check(
            COpenSSL_EVP_CIPHER_CTX_get_gcm_tag(context, &tag, Int32(tagByteCount)),
            "EVP_CIPHER_CTX_ctrl(GCM_GET_TAG)"
        )
        return SealedBox(validatedNonce: nonce, ciphertext: ciphertext, tag: tag)
    }

    /// Authenticates `box` and `aad` under `key` and returns the plaintext.
    ///
    /// - Throws: ``CryptoError/authenticationFailed`` if the key, the associated data, the nonce,
    ///   the ciphertext or the tag is wrong; no plaintext is returned or left in memory then.
    ///   `invalidKeyLength` for a key that is not 32 bytes.
    public static func open(
        _ box: SealedBox,
        key: [UInt8],
        authenticating aad: [UInt8] = []
    ) throws -> [UInt8] {
        try checkKey(key)

        guard let context = EVP_CIPHER_CTX_new() else { throw OpenSSL.error("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(context) }

        try OpenSSL.check(EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil), "EVP_DecryptInit_ex")
        try OpenSSL.check(
            COpenSSL_EVP_CIPHER_CTX_set_gcm_ivlen(context, Int32(nonceByteCount)),
            "EVP_CIPHER_CTX_ctrl(GCM_SET_IVLEN)"
        )
        try key.withNonNullBytes { keyPointer, _ in
            try box.nonce.withNonNullBytes { noncePointer, _ in
                try OpenSSL.check(
                    EVP_DecryptInit_ex(context, nil, nil, keyPointer, noncePointer),
                    "EVP_DecryptInit_ex"
                )
            }
        }
        try addAssociatedData(aad, to: context, update: EVP_DecryptUpdate, operation: "EVP_DecryptUpdate(AAD)")

        let count = box.ciphertext.count
        let length = try OpenSSL.int32Length(count)
        var plaintext = [UInt8](repeating: 0, count: count)
        if count > 0 {
            var written: Int32 = 0
            let result = box.ciphertext.withNonNullBytes { input, _ in
                plaintext.withUnsafeMutableBufferPointer { output in
                    EVP_DecryptUpdate(context, output.baseAddress, &written, input, length)
                }
            }
            guard result == 1, written == length else {
                OpenSSL.cleanse(&plaintext)
                throw OpenSSL.error("EVP_DecryptUpdate")
            }
        }

        try OpenSSL.check(
            box.tag.withNonNullBytes { tagPointer, _ in
                COpenSSL_EVP_CIPHER_CTX_set_gcm_tag(context, tagPointer, Int32(tagByteCount))
            },
            "EVP_CIPHER_CTX_ctrl(GCM_SET_TAG)"
        )

        var finalBlock = [UInt8](repeating: 0, count: tagByteCount)
        var finalLength: Int32 = 0
        guard EVP_DecryptFinal_ex(context, &finalBlock, &finalLength) == 1 else {
            // The bytes decrypted so far are unauthenticated: wipe them before they can be used.
            OpenSSL.cleanse(&plaintext)
            // A tag mismatch is the expected failure here and OpenSSL queues nothing useful for it.
            _ = OpenSSL.drainErrorQueue()
            throw CryptoError.authenticationFailed
        }
        return plaintext
    }

    private static func addAssociatedData(
        _ aad: [UInt8],
        to context: OpaquePointer,
        update: (
            OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<Int32>?, UnsafePointer<UInt8>?, Int32
        ) -> Int32,
        operation: String
    ) throws {
        guard !aad.isEmpty else { return }
        let length = try OpenSSL.int32Length(aad.count)
        var written: Int32 = 0
        // A NULL output buffer tells OpenSSL the bytes are associated data, not plaintext.
        try OpenSSL.check(
            aad.withNonNullBytes { pointer, _ in update(context, nil, &written, pointer, length) },
            operation
        )
    }

    static func checkKey(_ key: [UInt8]) throws {
        guard key.count == keyByteCount else {
            throw CryptoError.invalidKeyLength(expected: keyByteCount, actual: key.count)
        }
    }

    static func checkNonce(_ nonce: [UInt8]) throws {
        guard nonce.count == nonceByteCount else {
            throw CryptoError.invalidNonceLength(expected: nonceByteCount, actual: nonce.count)
        }
    }
}
