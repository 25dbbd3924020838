import Logging
import NIOCore
import NIOHTTP1
import RotorHTTP
import Synchronization
import Testing

@Suite struct RateLimiterTests {
    private static let second: UInt64 = 1_000_000_000

    @Test("a bucket allows its burst, refuses the next with a Retry-After, and refills at the rate")
    func tokenBucket() {
        let limiter = RateLimiter(limit: .init(rate: 2, burst: 3))
        let start: UInt64 = 10 * Self.second
        for _ in 0..<3 { #expect(limiter.acquire("a", now: start) == .allowed) }
        #expect(limiter.acquire("a", now: start) == .limited(retryAfter: 1))
        // Another key has its own bucket.
        #expect(limiter.acquire("b", now: start) == .allowed)
        // Half a second at 2/s is one token, and only one.
        #expect(limiter.acquire("a", now: start + Self.second / 2) == .allowed)
        #expect(limiter.acquire("a", now: start + Self.second / 2) == .limited(retryAfter: 1))
        // A long idle period refills to the burst, not beyond.
        let later = start + 100 * Self.second
        for _ in 0..<3 { #expect(limiter.acquire("a", now: later) == .allowed) }
        #expect(limiter.acquire("a", now: later) != .allowed)
    }

    @Test("Retry-After is the whole seconds until the next token, rounded up")
    func retryAfterRoundsUp() {
        let limiter = RateLimiter(limit: .init(rate: 0.1, burst: 1))
        #expect(limiter.acquire("k", now: 0) == .allowed)
        #expect(limiter.acquire("k", now: 0) == .limited(retryAfter: 10))
        #expect(limiter.acquire("k", now: 2_500_000_000) == .limited(retryAfter: 8))
        #expect(limiter.acquire("k", now: 10 * Self.second) == .allowed)
    }

    @Test("memory is bounded: a full table drops refilled buckets first, then the least recently used")
    func boundedMemory() {
        let limiter = RateLimiter(limit: .init(rate: 1, burst: 2), capacity: 8)
        for index in 0..<8 { #expect(limiter.acquire("idle-\(index)", now: 0) == .allowed) }
        #expect(limiter.count == 8)
        // Ten seconds later every bucket has refilled: all of them go to make room.
        #expect(limiter.acquire("new", now: 10 * Self.second) == .allowed)
        #expect(limiter.count == 1)

        // A flood of busy keys never grows the table past its capacity.
        for index in 0..<100 { _ = limiter.acquire("busy-\(index)", now: 10 * Self.second + UInt64(index)) }
        #expect(limiter.count <= 8)
        // The most recently used keys survived with their spent tokens: busy-99 used one of two.
        #expect(limiter.acquire("busy-99", now: 10 * Self.second + 100) == .allowed)
        #expect(limiter.acquire("busy-99", now: 10 * Self.second + 100) == .limited(retryAfter: 1))
    }

    @Test("the middleware answers 429 rate_limited problem+json with Retry-After, per key")
    func middleware() async throws {
        let clock = Mutex<UInt64>(0)
        let router = Router()
        router.use(RequestIDMiddleware())
        router.use(ErrorMiddleware())
        let limited = router.group(
            "/limited",
            middleware: RateLimitMiddleware(limiter: RateLimiter(limit: .init(rate: 1, burst: 2)), now: { clock.withLock { $0 } }) {
                $0.headers.first(name: "X-Caller")
            }
        )
        limited.get("/") { _ in .text("ok", contentType: "text/plain") }
        let responder = router.buildResponder()
        func status(_ caller: String?) async throws -> HTTPResponseStatus {
            try await send(caller).status
        }
        func send(_ caller: String?) async throws -> Response {
            var headers: HTTPHeaders = [:]
            if let caller { headers.add(name: "X-Caller", value: caller) }
            return try await responder.respond(to: Request(method: .GET, uri: "/limited", headers: headers, logger: Logger(label: "test")))
        }

        do {
            let answer = try await status("alice")
            #expect(answer == .ok)
        }
        do {
            let answer = try await status("alice")
            #expect(answer == .ok)
        }
        let refused = try await send("alice")
        #expect(refused.status == .tooManyRequests)
        #expect(refused.headers["Retry-After"] == ["1"])
        #expect(refused.headers["Content-Type"] == ["application/problem+json"])
        #expect(refused.bodyString.contains(#""code":"rate_limited""#))
        #expect(refused.bodyString.contains(#""status":429"#))
        // Other callers, and requests the key function does not name, are not affected.
        do {
            let answer = try await status("bob")
            #expect(answer == .ok)
        }
        for _ in 0..<5 {
            let anonymous = try await status(nil)
            #expect(anonymous == .ok)
        }
        // One second later alice has one token again.
        clock.withLock { $0 = 1_000_000_000 }
        do {
            let answer = try await status("alice")
            #expect(answer == .ok)
        }
        do {
            let answer = try await status("alice")
            #expect(answer == .tooManyRequests)
        }
    }
}
