import FakeVultr
import NIOHTTP1
import Testing

/// Faults switched on while the fake runs, for Rotor's retry and crash-safety tests.
@Suite(.timeLimit(.minutes(1))) struct FaultTests {
    @Test("failNext(2, 503) answers two 503s, then the call succeeds", arguments: [HTTPResponseStatus.serviceUnavailable, .badGateway, .internalServerError])
    func failNext(status: HTTPResponseStatus) async throws {
        let fake = FakeVultr()
        let (userID, key) = fake.addUser()
        try await fake.withClient { client in
            fake.failNext(2, status: status)
            try await client.send(.POST, "/v2/apikeys", key: key, body: "{}").expectVultrError(status)
            try await client.send(.POST, "/v2/apikeys", key: key, body: "{}").expectVultrError(status)
            #expect(fake.keys(ofUser: userID).count == 1)
            #expect(try await client.send(.POST, "/v2/apikeys", key: key, body: "{}").status == .created)
        }
        #expect(fake.requestCounts(.create) == .init(received: 3, succeeded: 1))
    }

    @Test("a fault aimed at one operation leaves the others alone")
    func scoped() async throws {
        let fake = FakeVultr()
        let (_, key) = fake.addUser()
        try await fake.withClient { client in
            fake.failNext(1, status: .internalServerError, on: .delete)
            #expect(try await client.send(.GET, "/v2/account", key: key).status == .ok)
            try await client.send(.DELETE, "/v2/apikeys/absent", key: key).expectVultrError(.internalServerError)
            try await client.send(.DELETE, "/v2/apikeys/absent", key: key).expectVultrError(.notFound)
        }
    }

    @Test("rateLimitNext(1, retryAfter: 2) answers one 429 with Retry-After: 2")
    func rateLimitNext() async throws {
        let fake = FakeVultr()
        let (_, key) = fake.addUser()
        try await fake.withClient { client in
            fake.rateLimitNext(1, retryAfter: 2)
            let limited = try await client.send(.GET, "/v2/apikeys", key: key)
            try limited.expectVultrError(.tooManyRequests)
            #expect(limited.headers["Retry-After"] == ["2"])
            #expect(try await client.send(.GET, "/v2/apikeys", key: key).status == .ok)

            fake.rateLimitNext(1, retryAfter: nil)
            let bare = try await client.send(.GET, "/v2/apikeys", key: key)
            try bare.expectVultrError(.tooManyRequests)
            #expect(bare.headers["Retry-After"].isEmpty)
        }
    }

    @Test("latency delays answers by at least the set duration, until cleared")
    func latency() async throws {
        let fake = FakeVultr()
        let (_, key) = fake.addUser()
        try await fake.withClient { client in
            let clock = ContinuousClock()
            // Three seconds, so that a loaded machine (the whole suite runs in parallel on two
            // cores) cannot make a prompt answer look delayed.
            fake.setLatency(.seconds(3))
            var start = clock.now
            let delayed = try await client.send(.GET, "/v2/account", key: key)
            let slow = clock.now - start
            #expect(delayed.status == .ok)
            #expect(slow >= .seconds(3))
            // A minute's latency, cleared: had it not been, the answer would take a minute (past
            // the client's deadline); a busy machine's few seconds stay far below it.
            fake.setLatency(.seconds(60))
            fake.clearFaults()
            start = clock.now
            let prompt = try await client.send(.GET, "/v2/account", key: key)
            let fast = clock.now - start
            #expect(prompt.status == .ok)
            #expect(fast < .seconds(20))
        }
    }

    @Test("dropAfterCreate: the client gets no answer, yet the key exists and is listed (an orphan)")
    func dropAfterCreate() async throws {
        let fake = FakeVultr()
        let (userID, key) = fake.addUser()
        try await fake.withClient { client in
            fake.dropAfterCreate(1)
            await #expect(throws: (any Error).self) {
                try await client.send(.POST, "/v2/apikeys", key: key, body: #"{"name": "rotor-job-7"}"#)
            }
            let orphans = fake.keys(ofUser: userID).filter { $0.name == "rotor-job-7" }
            #expect(orphans.count == 1)

            let list = try await client.send(.GET, "/v2/apikeys", key: key)
            let listed = try #require(try list.object()["api_keys"] as? [[String: Any]])
            #expect(listed.filter { $0["name"] as? String == "rotor-job-7" }.count == 1)
            #expect(!list.body.contains(try #require(orphans.first).secret))

            // Only the next create was dropped.
            #expect(try await client.send(.POST, "/v2/apikeys", key: key, body: #"{"name": "rotor-job-7"}"#).status == .created)
        }
        #expect(fake.keys(ofUser: userID).count == 3)
        #expect(fake.requestCounts(.create) == .init(received: 2, succeeded: 2))
    }
}
