import COpenSSL

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Cryptographically secure random bytes from OpenSSL's DRBG (`RAND_bytes`).
public enum SecureRandom {
    /// Returns `count` random bytes.
    ///
    /// A failure of the system's random generator is treated as fatal rather than thrown: keys,
    /// nonces and tokens made from a failed generator would be predictable, no caller could
    /// recover meaningfully, and a throwing API would tempt callers to fall back to something
    /// weaker. OpenSSL 3 only fails here if it cannot seed from the OS at all.
    public static func bytes(count: Int) -> [UInt8] {
        precondition(count >= 0, "SecureRandom.bytes(count:) needs a non-negative count")
        guard count > 0 else { return [] }
        guard let length = Int32(exactly: count) else {
            preconditionFailure("SecureRandom.bytes(count:) count \(count) exceeds Int32.max")
        }
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            guard RAND_bytes(buffer.baseAddress, length) == 1 else {
                fatalError("OpenSSL RAND_bytes failed: \(OpenSSL.drainErrorQueue() ?? "no reason given")")
            }
            initialized = count
        }
    }

    /// Returns `prefix` followed by `byteCount` random bytes in unpadded base64url, e.g.
    /// `token(prefix: "rtr_")` → `rtr_…` (43 characters of 256-bit randomness).
    ///
    /// Base64url keeps tokens safe in URLs, headers and shell arguments without quoting, and the
    /// prefix lets secret scanners recognise leaked Rotor tokens.
    public static func token(prefix: String, byteCount: Int = 32) -> String {
        prefix + base64URLEncoded(bytes(count: byteCount))
    }

    /// RFC 4648 §5 base64url without padding.
    static func base64URLEncoded(_ bytes: [UInt8]) -> String {
        let standard = Data(bytes).base64EncodedString()
        return String(
            standard.compactMap { character -> Character? in
                switch character {
                case "+": "-"
                case "/": "_"
                case "=": nil
                default: character
                }
            }
        )
    }
}
