import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorAPI
import RotorHTTP
import Testing

/// Request-rate limits on the real routes: per token on `/v1`, per address and per trigger on
/// the signed endpoints.
@Suite(.timeLimit(.minutes(1))) struct RateLimitRouteTests {
    /// Tiny limits: bursts of 2 or 3, refilling so slowly that no test sees a refill.
    static let limits = APIRateLimits(perToken: .init(rate: 0.01, burst: 3), signed: .init(rate: 0.01, burst: 2))

    @Test("an authenticated token gets 429 rate_limited with Retry-After after its burst; bad tokens are refused before counting")
    func perToken() async throws {
        try await LiveRotor.run(rateLimits: Self.limits) { rotor in
            for _ in 0..<3 {
                let ok = try await rotor.api(.GET, "/v1/whoami")
                #expect(ok.status == .ok)
            }
            let limited = try await rotor.api(.GET, "/v1/credentials")
            #expect(limited.status == .tooManyRequests)
            #expect(limited.code == "rate_limited")
            #expect(limited.headers.first(name: "Content-Type") == "application/problem+json")
            let retryAfter = try #require(limited.headers.first(name: "Retry-After").flatMap(Int.init))
            #expect((90...100).contains(retryAfter))
            // An invalid token is a 401 (authentication comes first), and a 401 spends nothing.
            let bad = try await rotor.send(.GET, "/v1/whoami", headers: [("Authorization", "Bearer not-the-token-at-all")])
            #expect(bad.status == .unauthorized)
            // Unauthenticated routes are not limited per token.
            let health = try await rotor.send(.GET, "/healthz")
            #expect(health.status == .ok)
        }
    }

    @Test("hooks and leak reports: 429 with Retry-After per source address, before the signature is checked")
    func perAddress() async throws {
        try await LiveRotor.run(rateLimits: Self.limits) { rotor in
            let first = try await HookTests.createTrigger(rotor)
            let second = try await HookTests.createTrigger(rotor)
            for _ in 0..<2 {
                let unsigned = try await rotor.send(.POST, "/v1/hooks/\(first.id)", body: HookTests.payload)
                #expect(unsigned.status == .unauthorized)
            }
            // Even a correctly signed call is refused once the address has used its burst, on
            // another trigger and on the leak endpoint too.
            let signed = try HookTests.standardHeaders(secret: second.secret)
            let limited = try await rotor.send(.POST, "/v1/hooks/\(second.id)", body: HookTests.payload, headers: signed)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.code == "rate_limited")
            #expect(limited.headers.first(name: "Retry-After").flatMap(Int.init).map { $0 >= 1 } == true)
            let leak = try await rotor.send(.POST, "/v1/leaks/github", body: Array("[]".utf8), headers: [("Content-Type", "application/json")])
            #expect(leak.status == .tooManyRequests)
            #expect(try await rotor.allJobs().isEmpty)
            // Bearer-token routes have their own limit.
            let whoami = try await rotor.api(.GET, "/v1/whoami")
            #expect(whoami.status == .ok)
        }
    }

    @Test("hooks: unsigned requests never use up a trigger's limit; verified deliveries do, per trigger, whatever the address")
    func perTrigger() async throws {
        try await LiveRotor.run(rateLimits: Self.limits) { rotor in
            let first = try await HookTests.createTrigger(rotor)
            let second = try await HookTests.createTrigger(rotor)
            // Straight to the responder: no peer address, so only the per-trigger limit applies.
            func post(_ id: String, headers: [(String, String)] = []) async throws -> HTTPResponseStatus {
                var fields = HTTPHeaders()
                for (name, value) in headers { fields.add(name: name, value: value) }
                return try await rotor.responder.respond(
                    to: Request(method: .POST, uri: "/v1/hooks/\(id)", headers: fields, body: ByteBuffer(bytes: HookTests.payload), logger: Logger(label: "test"))
                ).status
            }
            // An attacker without the secret, as often as they like: 401 each time, nothing counted.
            for _ in 0..<10 {
                let status = try await post(first.id)
                #expect(status == .unauthorized)
            }
            // The real sender still gets through, up to its burst (2), then 429.
            for _ in 0..<2 {
                let signed = try await post(first.id, headers: try HookTests.standardHeaders(secret: first.secret))
                #expect(signed == .accepted)
            }
            let limited = try await post(first.id, headers: try HookTests.standardHeaders(secret: first.secret))
            #expect(limited == .tooManyRequests)
            let other = try await post(second.id, headers: try HookTests.standardHeaders(secret: second.secret))
            #expect(other == .accepted)
        }
    }

    @Test("failed bearer attempts are limited per source address: past the burst every request from it answers 429, even with a valid token")
    func failedAuthentication() async throws {
        // One attempt back every 20 s: no refill while the test runs, however loaded the machine.
        try await LiveRotor.run(rateLimits: APIRateLimits(failedAuth: .init(rate: 0.05, burst: 5))) { rotor in
            #expect(try await rotor.api(.GET, "/v1/whoami").status == .ok)
            for index in 0..<5 {
                let wrong = try await rotor.send(.GET, "/v1/whoami", headers: [("Authorization", "Bearer rtr_wrong_guess_\(index)")])
                #expect(wrong.status == .unauthorized)
            }
            let limited = try await rotor.send(.GET, "/v1/whoami", headers: [("Authorization", "Bearer rtr_wrong_guess_6")])
            #expect(limited.status == .tooManyRequests)
            #expect(limited.code == "rate_limited")
            #expect(limited.headers.first(name: "Retry-After").flatMap(Int.init).map { (1...20).contains($0) } == true)
            // A correct guess is not confirmed while the address is limited.
            #expect(try await rotor.api(.GET, "/v1/whoami").status == .tooManyRequests)
        }
    }
}
