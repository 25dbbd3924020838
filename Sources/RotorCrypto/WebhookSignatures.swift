public import Foundation

/// A webhook signing secret in Standard Webhooks' form: `whsec_` + base64 of the key bytes.
public struct WebhookSecret: Sendable, Hashable, CustomStringConvertible {
    /// The HMAC key.
    let keyBytes: [UInt8]

    /// Parses `whsec_<base64>` (or bare base64). The key must be 24–64 bytes (Standard Webhooks).
    public init(encoded: String) throws {
        let base64 = encoded.hasPrefix("whsec_") ? String(encoded.dropFirst(6)) : encoded
        guard let bytes = Data(base64Encoded: base64), (24...64).contains(bytes.count) else {
            throw CryptoError.invalidWebhookSecret
        }
        self.keyBytes = Array(bytes)
    }

    /// Uses raw key bytes (GitHub's scheme: the secret text's UTF-8 bytes).
    public init(keyBytes: [UInt8]) {
        self.keyBytes = keyBytes
    }

    /// A fresh random 32-byte secret.
    public static func generate() -> WebhookSecret {
        WebhookSecret(keyBytes: SecureRandom.bytes(count: 32))
    }

    /// `whsec_<base64>`: the form shown to the user once.
    public var encoded: String { "whsec_" + Data(self.keyBytes).base64EncodedString() }

    /// Never the key.
    public var description: String { "WebhookSecret([REDACTED])" }
}

/// Standard Webhooks signatures (standardwebhooks.com): headers `webhook-id`,
/// `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
public enum StandardWebhooks {
    /// Why a delivery does not verify.
    public enum Failure: Error, Sendable, Hashable {
        /// A header is missing or not in the expected form.
        case malformed
        /// The timestamp is older than the tolerance.
        case staleTimestamp
        /// The timestamp is further in the future than the tolerance.
        case futureTimestamp
        /// No signature matches any of the secrets.
        case invalidSignature
    }

    /// The signature header value for a delivery: `v1,<base64>`.
    public static func sign(id: String, timestamp: Int, body: some Collection<UInt8>, secret: WebhookSecret) -> String {
        "v1," + Data(self.mac(id: id, timestamp: String(timestamp), body: body, key: secret.keyBytes)).base64EncodedString()
    }

    /// Verifies a delivery against any of `secrets` (several while a secret is being rolled).
    ///
    /// The timestamp must be within `tolerance` seconds of `now`, both ways; the header may carry
    /// several space-separated signatures, any `v1` one of which may match. Signatures are
    /// compared in constant time.
    public static func verify(
        id: String,
        timestamp: String,
        signatureHeader: String,
        body: some Collection<UInt8>,
        secrets: [WebhookSecret],
        now: Date,
        tolerance: TimeInterval = 300
    ) throws(Failure) {
        guard !id.isEmpty, let seconds = Int(timestamp), !signatureHeader.isEmpty else { throw .malformed }
        let age = now.timeIntervalSince1970 - TimeInterval(seconds)
        if age > tolerance { throw .staleTimestamp }
        if age < -tolerance { throw .futureTimestamp }
        let candidates = signatureHeader.split(separator: " ").compactMap { entry -> [UInt8]? in
            let parts = entry.split(separator: ",", maxSplits: 1)
            guard parts.count == 2, parts[0] == "v1", let bytes = Data(base64Encoded: String(parts[1])) else { return nil }
            return Array(bytes)
        }
        guard !candidates.isEmpty else { throw .malformed }
        var matched = false
        for secret in secrets {
            let expected = self.mac(id: id, timestamp: timestamp, body: body, key: secret.keyBytes)
            for candidate in candidates where constantTimeEquals(candidate, expected) {
                matched = true
            }
        }
        guard matched else { throw .invalidSignature }
    }

    private static func mac(id: String, timestamp: String, body: some Collection<UInt8>, key: [UInt8]) -> [UInt8] {
        var message = Array("\(id).\(timestamp).".utf8)
        message.append(contentsOf: body)
        return HMACSHA256.authenticationCode(key: key, message: message)
    }
}

/// GitHub's webhook signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
public enum GitHubWebhookSignature {
    /// The header value for `body`.
    public static func sign(body: some Collection<UInt8>, secret: WebhookSecret) -> String {
        "sha256=" + HMACSHA256.authenticationCode(key: secret.keyBytes, message: body).hexString
    }

    /// Whether `header` is a valid signature of `body` under any of `secrets`, compared in
    /// constant time.
    public static func isValid(header: String, body: some Collection<UInt8>, secrets: [WebhookSecret]) -> Bool {
        guard header.hasPrefix("sha256="), let presented = Self.decodeHex(header.dropFirst(7)), presented.count == 32 else {
            return false
        }
        var matched = false
        for secret in secrets where constantTimeEquals(presented, HMACSHA256.authenticationCode(key: secret.keyBytes, message: body)) {
            matched = true
        }
        return matched
    }

    private static func decodeHex(_ text: Substring) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = Self.nibble(digits[index]), let low = Self.nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension SHA256 {
    /// `sha256:` + the first 12 hex digits of the SHA-256 of `key`: how Rotor names a key in
    /// responses and logs without revealing it.
    public static func fingerprint(of key: String) -> String {
        "sha256:" + String(self.hexDigest(key).prefix(12))
    }
}
