public import Foundation
public import NIOHTTP1

/// What makes one provider's key API itself, written from its public documentation: where the
/// calls are, how a key authenticates, the field names, the pagination and the error JSON.
/// ``FakeKeyAPI`` serves any shape with the same store, faults and rate limit; the shapes Rotor
/// ships definitions for are ``linode``, ``sendgrid`` and ``scaleway``.
public struct KeyAPIShape: Sendable {
    /// How a listing is cut into pages.
    public enum Pagination: Sendable {
        /// Numbered pages from 1 in `param`, `sizeParam` items each (default `defaultSize`, at
        /// most `maxSize`; outside 1...maxSize is a 400).
        case pages(param: String, sizeParam: String, defaultSize: Int, maxSize: Int)
        /// One answer of at most `param` items (default and most: `maxSize`).
        case limit(param: String, maxSize: Int)
    }

    /// The provider's name, in logs.
    public var name: String
    /// The header that carries a key, and what comes before the key in it (`"Bearer "`).
    public var authHeader: String
    public var authPrefix: String
    /// The verify call's route; a `{account}` segment must be the caller's own account (404 otherwise).
    public var verifyPath: String
    /// The keys collection's route; one key is at `keysPath/{id}`.
    public var keysPath: String
    /// Statuses of a successful create and delete.
    public var createStatus: HTTPResponseStatus
    public var deleteStatus: HTTPResponseStatus
    /// The create body's name field, expiry field (RFC 3339) if any, and the field naming the
    /// key's bearer (must be the caller's own account: 403 otherwise; 400 if missing), if any.
    public var nameField: String
    public var expiryField: String?
    public var bearerField: String?
    /// A list query parameter that filters by bearer: another account's id lists nothing.
    public var bearerFilter: String?
    /// How listings are paged.
    public var pagination: Pagination
    /// The rate limit the provider documents (or that is assumed): requests per window per source.
    public var rateLimit: (requests: Int, window: Duration)
    /// The verify call's answer.
    public var verifyJSON: @Sendable (_ accountID: String) -> Any
    /// A key as the create answers it (`plaintext: true`) or as lists show it.
    public var keyJSON: @Sendable (_ key: FakeKey, _ plaintext: Bool) -> Any
    /// A listing page: its items, the page number, the number of pages and of keys.
    public var listJSON: @Sendable (_ items: [Any], _ page: Int, _ pages: Int, _ total: Int) -> Any
    /// The body of a failed call.
    public var errorJSON: @Sendable (_ status: HTTPResponseStatus, _ message: String) -> Any
    /// The headers of a 429, given the seconds until a retry may succeed (nil: say nothing).
    public var rateLimitHeaders: @Sendable (_ retryAfter: Int?) -> HTTPHeaders
    /// The messages of the common errors.
    public var unauthorized: String
    public var notFound: String
    public var tooManyRequests: String
    /// A new key's id (given a sequence number) and plaintext.
    public var newID: @Sendable (_ sequence: Int) -> String
    public var newSecret: @Sendable () -> String
}

extension KeyAPIShape {
    /// `Retry-After: <seconds>` when given.
    static func retryAfterHeader(_ seconds: Int?) -> HTTPHeaders {
        seconds.map { ["Retry-After": String($0)] } ?? [:]
    }

    /// RFC 3339 in UTC, whole seconds.
    static func rfc3339(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }
}

extension KeyAPIShape {
    /// The definition Rotor ships for this provider (`providers/<name>.yaml` in this repository)
    /// with its `base_url` aimed at `baseURL`: what an operator copies, pointed at this fake.
    public func shippedDefinition(baseURL: String) throws -> String {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = repository.appendingPathComponent("providers").appendingPathComponent("\(self.name).yaml")
        let yaml = try String(contentsOf: file, encoding: .utf8)
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("base_url:") ? "base_url: \(baseURL)" : String(line)
        }
        return lines.joined(separator: "\n")
    }
}
