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
}
