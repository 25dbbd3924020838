public import RotorHTTP

/// Request-rate limits of the v1 API (`ROTOR_RATE_LIMIT_*`, `ROTOR_HOOK_RATE_LIMIT_*`); a nil
/// limit is off.
public struct APIRateLimits: Sendable, Hashable {
    /// Per authenticated principal on bearer-token `/v1` routes, checked after authentication.
    public var perToken: RateLimiter.Limit?
    /// On the signature-authenticated `POST /v1/hooks/{id}` and `POST /v1/leaks/github`: per
    /// source address, checked before the signature, so a flood costs neither HMACs nor store
    /// reads; and for hooks per trigger, counted only once a delivery's signature verified.
    public var signed: RateLimiter.Limit?
    /// Failed bearer-token attempts per source address; over it every request from the address
    /// answers 429 until the bucket refills.
    public var failedAuth: RateLimiter.Limit?

    /// Creates limits.
    public init(perToken: RateLimiter.Limit? = nil, signed: RateLimiter.Limit? = nil, failedAuth: RateLimiter.Limit? = nil) {
        self.perToken = perToken
        self.signed = signed
        self.failedAuth = failedAuth
    }

    /// No limits (the tests' default).
    public static let unlimited = APIRateLimits()

    /// `rotor serve`'s defaults: 50 requests/s per token with bursts of 100; 2/s with bursts of
    /// 20 per address and per trigger on the signed endpoints; 1 failed authentication per second
    /// per address, with bursts of 20.
    public static let defaults = APIRateLimits(
        perToken: .init(rate: 50, burst: 100), signed: .init(rate: 2, burst: 20), failedAuth: .init(rate: 1, burst: 20))

    /// The middleware for bearer-token routes, keyed by principal id; nil when off.
    func perTokenMiddleware() -> (any Middleware)? {
        self.perToken.map { limit in
            RateLimitMiddleware(limiter: RateLimiter(limit: limit)) { $0.principal?.id }
        }
    }

    /// The middleware for signed routes: per source address, before any signature is checked.
    func signedMiddleware() -> [any Middleware] {
        guard let limit = self.signed else { return [] }
        return [RateLimitMiddleware(limiter: RateLimiter(limit: limit), key: RateLimitMiddleware.remoteAddress)]
    }

    /// The per-trigger limit on `POST /v1/hooks/{id}`, counted only for verified deliveries.
    func perTriggerLimiter() -> RateLimiter? {
        self.signed.map { RateLimiter(limit: $0) }
    }
}
