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
    static let sensitiveKeyWords: Set<Substring> = [
        "authorization", "secret", "secrets", "password", "token", "signature", "cookie", "apikey", "key",
    ]

    /// Whether a metadata value under `key` could be a credential (`authorization`,
    /// `signing_secret`, `admin_token`, `api_key`...) and must be redacted. Keys naming an id
    /// (`token_id`, `provider_key_id`) are not: ids are what logs are for.
    public static func isSensitiveMetadataKey(_ key: String) -> Bool {
        let words = key.lowercased().split(whereSeparator: { $0 == "." || $0 == "_" || $0 == "-" })
        guard let last = words.last, last != "id", last != "ids" else { return false }
        return words.contains { Self.sensitiveKeyWords.contains($0) }
    }
}
