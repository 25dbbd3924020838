extension AES256GCM {
    /// The output of ``AES256GCM/seal(_:key:nonce:authenticating:)``: nonce, ciphertext and tag.
    ///
    /// The stored properties are immutable so a box always has a 12-byte nonce and a 16-byte tag;
    /// the ciphertext is as long as the plaintext.
    public struct SealedBox: Sendable, Hashable {
        /// The 12-byte nonce.
        public let nonce: [UInt8]
        /// The encrypted bytes, as long as the plaintext.
        public let ciphertext: [UInt8]
        /// The 16-byte authentication tag.
        public let tag: [UInt8]

        /// A box from its parts, e.g. as stored in separate columns.
        ///
        /// - Throws: ``CryptoError`` with code `invalidNonceLength` or `malformedSealedBox` when a
        ///   part has the wrong size.
        public init(nonce: [UInt8], ciphertext: [UInt8], tag: [UInt8]) throws {
            try AES256GCM.checkNonce(nonce)
            guard tag.count == AES256GCM.tagByteCount else {
                throw CryptoError.malformedSealedBox("tag must be \(AES256GCM.tagByteCount) bytes, got \(tag.count)")
            }
            self.init(validatedNonce: nonce, ciphertext: ciphertext, tag: tag)
        }

        init(validatedNonce nonce: [UInt8], ciphertext: [UInt8], tag: [UInt8]) {
            self.nonce = nonce
            self.ciphertext = ciphertext
            self.tag = tag
        }

        /// Splits `nonce || ciphertext || tag`, the layout of ``combined``.
        ///
        /// - Throws: ``CryptoError`` with code `malformedSealedBox` if `combined` is shorter than
        ///   a nonce and a tag (28 bytes).
        public init(combined: some Collection<UInt8>) throws {
            let bytes = Array(combined)
            let overhead = AES256GCM.nonceByteCount + AES256GCM.tagByteCount
            guard bytes.count >= overhead else {
                throw CryptoError.malformedSealedBox("\(bytes.count) bytes is shorter than nonce and tag (\(overhead))")
            }
            let ciphertextEnd = bytes.count - AES256GCM.tagByteCount
            self.init(
                validatedNonce: Array(bytes[..<AES256GCM.nonceByteCount]),
                ciphertext: Array(bytes[AES256GCM.nonceByteCount..<ciphertextEnd]),
                tag: Array(bytes[ciphertextEnd...])
            )
        }

        /// `nonce || ciphertext || tag`, for storing a box as one value.
        public var combined: [UInt8] {
            nonce + ciphertext + tag
        }
    }
}
