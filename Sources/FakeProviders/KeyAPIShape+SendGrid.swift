import Foundation
import NIOHTTP1

extension KeyAPIShape {
    /// Twilio SendGrid API keys (`/v3/api_keys`), as SendGrid's API reference documents them:
    /// bearer keys of 69 characters (`SG.<22>.<43>`); the create (201) answers `api_key` and
    /// `api_key_id` once; lists show `name` and `api_key_id` only, in `result`, at most `limit`;
    /// errors `{"errors": [{"field", "message"}]}`; a 429 carries `X-RateLimit-*` headers (the
    /// reset as Unix time), not `Retry-After`.
    public static let sendgrid = KeyAPIShape(
        name: "sendgrid",
        authHeader: "Authorization",
        authPrefix: "Bearer ",
        verifyPath: "/v3/scopes",
        keysPath: "/v3/api_keys",
        createStatus: .created,
        deleteStatus: .noContent,
        nameField: "name",
        expiryField: nil,
        bearerField: nil,
        bearerFilter: nil,
        pagination: .limit(param: "limit", maxSize: 100),
        // Assumed: SendGrid documents per-endpoint limits in the headers, not a figure for api_keys.
        rateLimit: (600, .seconds(60)),
        verifyJSON: { _ in ["scopes": ["api_keys.create", "api_keys.read", "api_keys.update", "api_keys.delete", "scopes.read"]] },
        keyJSON: { key, plaintext in
            plaintext
                ? ["api_key": key.secret, "api_key_id": key.id, "name": key.name, "scopes": ["mail.send"]] as [String: Any]
                : ["api_key_id": key.id, "name": key.name] as [String: Any]
        },
        listJSON: { items, _, _, _ in ["result": items] },
        errorJSON: { _, message in ["errors": [["field": NSNull(), "message": message] as [String: Any]]] },
        rateLimitHeaders: { retryAfter in
            var headers: HTTPHeaders = ["X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0"]
            let reset = Int(Date().timeIntervalSince1970) + (retryAfter ?? 1)
            headers.add(name: "X-RateLimit-Reset", value: String(reset))
            return headers
        },
        unauthorized: "authorization required",
        notFound: "unable to find API Key",
        tooManyRequests: "too many requests",
        newID: { _ in Random.string(22, from: Random.alphanumeric) },
        newSecret: { "SG." + Random.string(22, from: Random.alphanumeric + "-_") + "." + Random.string(43, from: Random.alphanumeric + "-_") }
    )
}
