import COpenSSL

/// An ECDSA public key on NIST P-256, for verifying SHA-256 signatures such as GitHub's
/// secret-scanning partner notifications (`Github-Public-Key-Signature`).
public struct ECDSAP256PublicKey: Sendable {
    private let key: PublicKeyHandle

    /// Parses a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) block.
    ///
    /// - Throws: ``CryptoError`` with code `invalidPublicKey` if the PEM cannot be parsed, or the
    ///   key is not an EC key on P-256 (other curves, RSA, Ed25519 … are rejected, so a
    ///   substituted key of another type cannot be slipped in).
    public init(pem: String) throws {
        let pemBytes = Array(pem.utf8)
        guard let pemLength = Int32(exactly: pemBytes.count) else {
            throw CryptoError.invalidPublicKey("PEM of \(pemBytes.count) bytes is too large")
        }
        let pointer: OpaquePointer? = pemBytes.withNonNullBytes { bytes, _ in
            guard let bio = BIO_new_mem_buf(bytes, pemLength) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        guard let pointer else {
            let reason = OpenSSL.drainErrorQueue().map { " (\($0))" } ?? ""
            throw CryptoError.invalidPublicKey("not a PEM-encoded public key\(reason)")
        }
        // Owned from here on, so every throw below frees it.
        let key = PublicKeyHandle(pointer)

        guard EVP_PKEY_get_base_id(pointer) == COpenSSL_EVP_PKEY_EC() else {
            throw CryptoError.invalidPublicKey("not an elliptic-curve key")
        }
        var name = [CChar](repeating: 0, count: 80)
        var nameLength = 0
        let curve: String? = name.withUnsafeMutableBufferPointer { buffer in
            guard EVP_PKEY_get_group_name(pointer, buffer.baseAddress, buffer.count, &nameLength) == 1 else {
                return nil
            }
            return String(cString: buffer.baseAddress!)
        }
        guard let curve else {
            _ = OpenSSL.drainErrorQueue()
            throw CryptoError.invalidPublicKey(
                "the key does not name its curve (explicit curve parameters are not accepted)")
        }
        guard OBJ_sn2nid(curve) == COpenSSL_NID_P256() else {
            throw CryptoError.invalidPublicKey("the key is on curve \(curve), not P-256 (prime256v1)")
        }
        self.key = key
    }

    /// Whether `derSignature` (an ASN.1 DER `ECDSA-Sig-Value`) is a valid ECDSA signature over
    /// SHA-256(`message`) by this key.
    ///
    /// Never throws: a malformed, truncated or empty signature is simply not valid, and so is any
    /// internal OpenSSL failure (the caller's answer is the same: reject the request).
    public func isValidSignature(_ derSignature: [UInt8], for message: some Collection<UInt8>) -> Bool {
        // A context per call: EVP_MD_CTX holds per-operation state and must not be shared.
        guard let context = EVP_MD_CTX_new() else {
            _ = OpenSSL.drainErrorQueue()
            return false
        }
        defer {
            EVP_MD_CTX_free(context)
            // A bad signature leaves DER-decoding errors on this thread's queue; they are expected
            // and must not surface in some later, unrelated error report.
            ERR_clear_error()
        }
        guard EVP_DigestVerifyInit(context, nil, EVP_sha256(), nil, key.pointer) == 1 else { return false }
        return derSignature.withNonNullBytes { signature, signatureCount in
            message.withNonNullBytes { data, dataCount in
                EVP_DigestVerify(context, signature, signatureCount, data, dataCount) == 1
            }
        }
    }
}

/// Owns an `EVP_PKEY` and frees it when the last ``ECDSAP256PublicKey`` copy goes away.
///
/// `@unchecked Sendable` is safe because the key is never mutated after `init`: it is only passed
/// to `EVP_DigestVerifyInit`, each call with its own `EVP_MD_CTX`. openssl-threads(7) states that
/// objects are safe to use from several threads as long as none of them modifies the object, and
/// OpenSSL guards the caches it keeps inside an `EVP_PKEY` (reference count, provider key cache)
/// with the key's own lock.
private final class PublicKeyHandle: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        EVP_PKEY_free(pointer)
    }
}
