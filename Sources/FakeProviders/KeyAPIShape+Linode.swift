import Foundation
import NIOHTTP1

extension KeyAPIShape {
    /// Linode personal access tokens (`/v4/profile/tokens`), as Linode's API reference documents
    /// them: bearer tokens; the create answers the token once, lists show its first 16
    /// characters; `page`/`page_size` (at most 500) with `data`, `page`, `pages`, `results`;
    /// errors `{"errors": [{"reason": ...}]}`; delete answers 200 `{}`.
    public static let linode = KeyAPIShape(
        name: "linode",
        authHeader: "Authorization",
        authPrefix: "Bearer ",
        verifyPath: "/v4/profile",
        keysPath: "/v4/profile/tokens",
        createStatus: .ok,
        deleteStatus: .ok,
        nameField: "label",
        expiryField: "expiry",
        bearerField: nil,
        bearerFilter: nil,
        pagination: .pages(param: "page", sizeParam: "page_size", defaultSize: 100, maxSize: 500),
        // "All commands have a rate limit of 400 requests per minute" (per user; here per source).
        rateLimit: (400, .seconds(60)),
        verifyJSON: { _ in ["username": "example-user", "email": "example@example.com", "restricted": false, "two_factor_auth": true] as [String: Any] },
        keyJSON: { key, plaintext in
            [
                "id": Int(key.id) ?? 0,
                "label": key.name,
                "scopes": "*",
                "created": KeyAPIShape.linodeDate(key.createdAt),
                "expiry": key.expiresAt.map { KeyAPIShape.linodeDate($0) } ?? NSNull(),
                "token": plaintext ? key.secret : String(key.secret.prefix(16)),
            ] as [String: Any]
        },
        listJSON: { items, page, pages, total in ["data": items, "page": page, "pages": pages, "results": total] as [String: Any] },
        errorJSON: { _, message in ["errors": [["reason": message]]] },
        rateLimitHeaders: { KeyAPIShape.retryAfterHeader($0) },
        unauthorized: "Invalid Token",
        notFound: "Not found",
        tooManyRequests: "Too many requests",
        newID: { String(100_000 + $0) },
        newSecret: { Random.string(64, from: Random.hex) }
    )

    /// Linode writes datetimes without a zone (`2018-01-01T00:01:01`), in UTC.
    private static func linodeDate(_ date: Date) -> String {
        String(rfc3339(date).dropLast())
    }
}
