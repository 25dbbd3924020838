import FakeVultr
import NIOHTTP1
import Testing

/// The per-IP requests-per-second limit of the real API.
@Suite(.timeLimit(.minutes(1))) struct RateLimitTests {
    @Test("over the limit within a second answers 429 with Retry-After in Vultr's shape")
    func limited() async throws {
        let fake = FakeVultr(configuration: .init(rateLimitPerSecond: 5))
        let (_, key) = fake.addUser()
        // Sent all at once, so that even a loaded machine puts far more than 5 into one second.
        let replies = try await fake.withClient { client in
            try await withThrowingTaskGroup(of: Reply.self) { group in
                for _ in 0..<20 { group.addTask { try await client.send(.GET, "/v2/account", key: key) } }
                return try await group.reduce(into: [Reply]()) { $0.append($1) }
            }
        }
        let limited = replies.filter { $0.status == .tooManyRequests }
        #expect(replies.contains { $0.status == .ok })
        #expect(limited.count >= 5)
        for reply in limited {
            try reply.expectVultrError(.tooManyRequests)
            #expect(reply.headers["Retry-After"] == ["1"])
        }
        #expect(fake.requestCounts(.account).received == 20)
        #expect(fake.requestCounts(.account).succeeded == 20 - limited.count)
    }

    @Test("with the limit disabled, a burst is never refused")
    func disabled() async throws {
        let fake = FakeVultr(configuration: .init(rateLimitPerSecond: nil))
        let (_, key) = fake.addUser()
        try await fake.withClient { client in
            for _ in 0..<40 {
                let reply = try await client.send(.GET, "/v2/account", key: key)
                #expect(reply.status == .ok)
            }
        }
    }
}
