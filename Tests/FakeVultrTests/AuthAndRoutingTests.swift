import FakeVultr
import Foundation
import NIOHTTP1
import Testing

/// Bearer authentication and the answers to routes that do not exist.
@Suite(.timeLimit(.minutes(1))) struct AuthAndRoutingTests {
    @Test("a missing, malformed or unknown bearer is 401 in Vultr's shape", arguments: [
        nil, "Bearer", "Basic dXNlcjpwYXNz", "Bearer WRONGKEYWRONGKEYWRONGKEYWRONGKEY1234", "Bearer ",
    ])
    func unauthorized(authorization: String?) async throws {
        let fake = FakeVultr()
        fake.addUser()
        try await fake.withClient { client in
            for path in ["/v2/account", "/v2/apikeys"] {
                let reply = try await client.send(.GET, path, key: nil, authorization: authorization)
                try reply.expectVultrError(.unauthorized)
            }
        }
    }

    @Test("the bearer scheme is case-insensitive")
    func schemeCase() async throws {
        let fake = FakeVultr()
        let (_, key) = fake.addUser()
        try await fake.withClient { client in
            let reply = try await client.send(.GET, "/v2/account", key: nil, authorization: "bearer \(key)")
            #expect(reply.status == .ok)
        }
    }

    @Test("an expired key no longer authenticates")
    func expired() async throws {
        let fake = FakeVultr()
        let (userID, _) = fake.addUser()
        let expired = try #require(fake.addKey(toUser: userID, name: "old", dateExpire: Date(timeIntervalSinceNow: -60)))
        try await fake.withClient { client in
            try await client.send(.GET, "/v2/account", key: expired.secret).expectVultrError(.unauthorized)
        }
    }

    @Test("an unknown route is 404 and a wrong method 405 with Allow, both in Vultr's shape")
    func unknownRoutes() async throws {
        let fake = FakeVultr()
        let (_, key) = fake.addUser()
        try await fake.withClient { client in
            try await client.send(.GET, "/v2/instances", key: key).expectVultrError(.notFound)
            let wrongMethod = try await client.send(.PUT, "/v2/apikeys", key: key)
            try wrongMethod.expectVultrError(.methodNotAllowed)
            #expect(wrongMethod.headers["Allow"].first?.contains("POST") == true)
        }
    }

    @Test("StoredKey's description never shows the plaintext")
    func descriptionRedacts() {
        let fake = FakeVultr()
        let (userID, secret) = fake.addUser()
        let key = fake.keys(ofUser: userID)[0]
        #expect(!"\(key)".contains(secret))
        #expect("\(key)".contains(secret.suffix(5)))
    }
}
