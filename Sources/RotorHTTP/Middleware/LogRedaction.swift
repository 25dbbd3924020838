public import NIOHTTP1

/// Header redaction for anything that logs headers.
public enum LogRedaction {
    /// Headers whose values are credentials or signatures.
    public static let sensitiveHeaders: Set<String> = [
        "authorization", "proxy-authorization", "cookie", "set-cookie",
        "webhook-signature", "x-hub-signature", "x-hub-signature-256",
        "github-public-key-signature", "idempotency-key",
    ]

    /// `name: value` pairs joined by `, `, sensitive values replaced by `[REDACTED]`.
    public static func redacted(_ headers: HTTPHeaders) -> String {
        headers.map { name, value in
            Self.sensitiveHeaders.contains(name.lowercased()) ? "\(name): [REDACTED]" : "\(name): \(value)"
        }.joined(separator: ", ")
    }

    /// Words in metadata keys whose values must never be logged. Rotor never logs such values;
    /// log handlers check anyway, in case a future call site slips.
    static let sensitiveKeyWords: [String] = [
        "authorization", "secret", "secrets", "password", "token", "signature", "cookie", "apikey", "key",
    ]
    private static let sensitiveKeyWordBytes: [[UInt8]] = Self.sensitiveKeyWords.map { Array($0.utf8) }
    private static let idWords: [[UInt8]] = [Array("id".utf8), Array("ids".utf8)]

    /// Whether a metadata value under `key` could be a credential (`authorization`,
    /// `signing_secret`, `admin_token`, `api_key`...) and must be redacted. Keys naming an id
    /// (`token_id`, `provider_key_id`) are not: ids are what logs are for.
    ///
    /// Asked for every key of every log line, so it compares bytes in place: the key split into
    /// words at `.`, `_` and `-`, each word compared without case against the sensitive words.
    public static func isSensitiveMetadataKey(_ key: String) -> Bool {
        key.utf8.withContiguousStorageIfAvailable(Self.isSensitiveKey) ?? Array(key.utf8).withUnsafeBufferPointer(Self.isSensitiveKey)
    }

    private static func isSensitiveKey(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var sensitive = false
        var lastWord = 0..<0
        var wordStart = 0
        for index in 0...bytes.count {
            guard index == bytes.count || bytes[index] == UInt8(ascii: ".") || bytes[index] == UInt8(ascii: "_") || bytes[index] == UInt8(ascii: "-")
            else { continue }
            if index > wordStart {
                lastWord = wordStart..<index
                if !sensitive {
                    for word in Self.sensitiveKeyWordBytes where Self.equalsIgnoringCase(bytes, lastWord, word) {
                        sensitive = true
                        break
                    }
                }
            }
            wordStart = index + 1
        }
        guard !lastWord.isEmpty else { return false }
        for word in Self.idWords where Self.equalsIgnoringCase(bytes, lastWord, word) {
            return false
        }
        return sensitive
    }

    /// Whether `bytes[range]` equals `lowercase` (all lowercase ASCII), ignoring ASCII case.
    private static func equalsIgnoringCase(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ lowercase: [UInt8]) -> Bool {
        guard range.count == lowercase.count else { return false }
        var offset = 0
        for index in range {
            var byte = bytes[index]
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { byte |= 0x20 }
            guard byte == lowercase[offset] else { return false }
            offset += 1
        }
        return true
    }
}
