import NIOCore

/// Answers `429 rate_limited` with `Retry-After` once a caller has used up its
/// ``RateLimiter`` bucket; otherwise passes the request on.
///
/// Who "a caller" is comes from `key`: the authenticated principal, the peer's address, a path
/// parameter. A request for which `key` gives nil is not limited by this middleware.
public struct RateLimitMiddleware: Middleware {
    private let limiter: RateLimiter
    private let key: @Sendable (Request) -> String?
    private let now: @Sendable () -> UInt64

    /// Limits requests by `key` with `limiter`. `now` gives monotonic nanoseconds (tests pass
    /// their own; the default is NIO's uptime clock).
    public init(
        limiter: RateLimiter,
        now: (@Sendable () -> UInt64)? = nil,
        key: @escaping @Sendable (Request) -> String?
    ) {
        self.limiter = limiter
        self.now = now ?? { NIODeadline.now().uptimeNanoseconds }
        self.key = key
    }

    public func respond(to request: Request, next: Responder) async throws -> Response {
        if let key = self.key(request), case .limited(let retryAfter) = self.limiter.acquire(key, now: self.now()) {
            throw HTTPError.tooManyRequests(retryAfter: retryAfter)
        }
        return try await next(request)
    }

    /// The key for "per source address": the peer's IP address without its port.
    @Sendable public static func remoteAddress(_ request: Request) -> String? {
        request.remoteAddress?.ipAddress
    }
}
