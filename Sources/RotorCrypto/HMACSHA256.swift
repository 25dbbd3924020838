import COpenSSL

/// HMAC-SHA256 (RFC 2104) through OpenSSL's one-shot `HMAC()`.
///
/// Signs and verifies webhooks (Standard Webhooks, GitHub's `X-Hub-Signature-256`). Compare
/// codes with ``constantTimeEquals(_:_:)``, never with `==`.
public enum HMACSHA256 {
    /// The length of an authentication code in bytes.
    public static let byteCount = 32

    /// The 32-byte HMAC-SHA256 of `message` under `key`. Empty keys and messages are valid.
    ///
    /// Does not throw: HMAC cannot fail for valid input, so an OpenSSL failure means memory
    /// exhaustion or a broken installation and is fatal. A key longer than 2 GiB is a programming
    /// error.
    public static func authenticationCode(
        key: some Collection<UInt8>,
        message: some Collection<UInt8>
    ) -> [UInt8] {
        key.withNonNullBytes { keyPointer, keyCount in
            message.withNonNullBytes { messagePointer, messageCount in
                guard let keyLength = Int32(exactly: keyCount) else {
                    preconditionFailure("HMAC key of \(keyCount) bytes exceeds Int32.max")
                }
                return [UInt8](unsafeUninitializedCapacity: byteCount) { code, initialized in
                    var length: UInt32 = 0
                    guard
                        HMAC(
                            EVP_sha256(), keyPointer, keyLength, messagePointer, messageCount,
                            code.baseAddress, &length
                        ) != nil,
                        length == byteCount
                    else {
                        fatalError("OpenSSL HMAC(SHA-256) failed: \(OpenSSL.drainErrorQueue() ?? "no reason given")")
                    }
                    initialized = byteCount
                }
            }
        }
    }

    /// The HMAC-SHA256 of the UTF-8 encoding of `message` under `key`.
    public static func authenticationCode(key: some Collection<UInt8>, message: String) -> [UInt8] {
        authenticationCode(key: key, message: Array(message.utf8))
    }
}
