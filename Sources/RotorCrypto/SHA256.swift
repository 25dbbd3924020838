import COpenSSL

/// SHA-256 (FIPS 180-4) through OpenSSL's EVP interface.
///
/// Used for token storage (only the hash of an API token is kept), key fingerprints and the
/// `token_hash` of leak reports. Hashing cannot fail for valid input, so the API does not throw;
/// an OpenSSL failure here means memory exhaustion or a broken OpenSSL installation, and is fatal.
public enum SHA256 {
    /// The length of a digest in bytes.
    public static let byteCount = 32

    /// The 32-byte digest of `data`.
    public static func hash(_ data: some Collection<UInt8>) -> [UInt8] {
        data.withNonNullBytes { pointer, count in
            [UInt8](unsafeUninitializedCapacity: byteCount) { digest, initialized in
                var length: UInt32 = 0
                guard EVP_Digest(pointer, count, digest.baseAddress, &length, EVP_sha256(), nil) == 1,
                    length == byteCount
                else {
                    fatalError("OpenSSL EVP_Digest(SHA-256) failed: \(OpenSSL.drainErrorQueue() ?? "no reason given")")
                }
                initialized = byteCount
            }
        }
    }

    /// The 32-byte digest of the UTF-8 encoding of `string`.
    public static func hash(_ string: String) -> [UInt8] {
        hash(Array(string.utf8))
    }

    /// The digest of `data` as 64 lowercase hex digits.
    public static func hexDigest(_ data: some Collection<UInt8>) -> String {
        hash(data).hexString
    }

    /// The digest of the UTF-8 encoding of `string` as 64 lowercase hex digits.
    public static func hexDigest(_ string: String) -> String {
        hash(string).hexString
    }
}
