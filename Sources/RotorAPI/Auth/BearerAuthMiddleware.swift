public import RotorHTTP
public import CoreMetrics
import NIOCore
import NIOHTTP1
import RotorCore

/// Requires `Authorization: Bearer <token>` (RFC 6750) and attaches the caller's ``Principal``.
///
/// Every failure is `401 unauthorized` with a `WWW-Authenticate: Bearer` challenge; the detail
/// says which of missing, malformed or invalid it was, never anything about the token itself.
///
/// Failed attempts are limited per source address (`failures`): each 401 takes a token from the
/// address's bucket, and while the bucket is empty every request from that address, even one
/// with a valid token, is answered `429` with `Retry-After` before its token is looked at, so a
/// guessed token cannot be confirmed at speed. `rotor_auth_failures_total{outcome}` counts
/// refusals (`invalid`) and requests turned away by the limit (`rate_limited`).
public struct BearerAuthMiddleware: Middleware {
    /// `rotor_auth_failures_total{outcome="invalid"|"rate_limited"}`.
    public static let failuresLabel = "rotor_auth_failures_total"

    private let authenticator: any TokenAuthenticator
    private let failures: RateLimiter?
    private let invalid: Counter
    private let limited: Counter

    /// Creates the middleware; `failureLimit` bounds failed attempts per source address.
    public init(authenticator: any TokenAuthenticator, failureLimit: RateLimiter.Limit? = nil, metrics: any MetricsFactory = MetricsSystem.factory) {
        self.authenticator = authenticator
        self.failures = failureLimit.map { RateLimiter(limit: $0) }
        self.invalid = Counter(label: Self.failuresLabel, dimensions: [("outcome", "invalid")], factory: metrics)
        self.limited = Counter(label: Self.failuresLabel, dimensions: [("outcome", "rate_limited")], factory: metrics)
    }

    public func respond(to request: Request, next: Responder) async throws -> Response {
        let address = self.failures == nil ? nil : RateLimitMiddleware.remoteAddress(request)
        if let failures = self.failures, let address, case .limited(let retryAfter) = failures.check(address, now: NIODeadline.now().uptimeNanoseconds) {
            self.limited.increment()
            throw HTTPError.tooManyRequests(retryAfter: retryAfter)
        }
        let principal: Principal?
        do {
            principal = try await self.authenticator.authenticate(token: try Self.bearerToken(in: request.headers["Authorization"]))
        } catch let error as HTTPError {
            self.failed(address)
            throw error
        }
        guard let principal else {
            self.failed(address)
            throw HTTPError.unauthorized("The bearer token is not valid.", invalidToken: true)
        }
        var request = request
        request.principal = principal
        // Store writes made for this request are audited as this token's doing.
        let response = try await Audit.$actor.withValue(principal.id) { try await next(request) }
        guard response.completion == nil else {
            return response.finishing { result in result.map(Self.uncached) }
        }
        return Self.uncached(response)
    }

    /// Authenticated answers may carry credentials; no cache may keep them.
    private static func uncached(_ response: Response) -> Response {
        var response = response
        response.headers.replaceOrAdd(name: "Cache-Control", value: "no-store")
        return response
    }

    /// Counts a failed attempt against its source address.
    private func failed(_ address: String?) {
        self.invalid.increment()
        if let failures = self.failures, let address { _ = failures.acquire(address, now: NIODeadline.now().uptimeNanoseconds) }
    }

    /// The token of the single `Authorization: Bearer <token68>` header.
    ///
    /// Parsed on the UTF-8 view without splitting or case-folding copies: it runs on every
    /// authenticated request.
    static func bearerToken(in values: [String]) throws(HTTPError) -> String {
        guard let value = values.first else {
            throw HTTPError.unauthorized("This endpoint needs an 'Authorization: Bearer <token>' header.")
        }
        // Made only when thrown: building the problem on every request was a measurable cost.
        var malformed: HTTPError { .unauthorized("The Authorization header must have the form 'Bearer <token>'.", invalidToken: true) }
        guard values.count == 1 else { throw malformed }
        let utf8 = value.utf8
        let scheme = utf8.prefix(6)
        guard scheme.count == 6, zip(scheme, "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 }) else { throw malformed }
        let afterScheme = utf8.dropFirst(6)
        guard afterScheme.first == UInt8(ascii: " ") else { throw malformed }
        let credentials = afterScheme.drop { $0 == UInt8(ascii: " ") }
        let token = Substring(credentials)
        guard isToken68(token) else { throw malformed }
        return String(token)
    }

    /// Whether `text` can be sent as a bearer token: RFC 6750 §2.1's
    /// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
    public static func isToken68(_ text: Substring) -> Bool {
        // One forward pass: token characters, then only padding.
        var characters = 0
        var padding = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "="):
                padding += 1
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                guard padding == 0 else { return false }
                characters += 1
            default:
                return false
            }
        }
        return characters > 0
    }
}
