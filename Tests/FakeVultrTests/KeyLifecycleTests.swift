import FakeVultr
import Foundation
import NIOHTTP1
import Testing

/// Create, list, get and delete over a real socket, and what each may reveal.
@Suite(.timeLimit(.minutes(1))) struct KeyLifecycleTests {
    @Test("create answers 201 with a 36-character [A-Z0-9] plaintext that then authenticates")
    func createAuthenticates() async throws {
        let fake = FakeVultr()
        let (userID, initial) = fake.addUser(name: "Ops", email: "ops@example.com")
        try await fake.withClient { client in
            let reply = try await client.send(.POST, "/v2/apikeys", key: initial, body: #"{"name": "rotor-job-1", "expire": true, "date_expire": "2099-01-01T00:00:00Z"}"#)
            #expect(reply.status == .created)
            #expect(reply.headers["Content-Type"] == ["application/json"])
            let key = try #require(try reply.object()["api_key"] as? [String: Any])
            let secret = try #require(key["api_key"] as? String)
            #expect(secret.count == 36)
            #expect(secret.allSatisfy { ("A"..."Z").contains($0) || ("0"..."9").contains($0) })
            let id = try #require(key["id"] as? String)
            #expect(UUID(uuidString: id) != nil && id == id.lowercased())
            #expect(key["name"] as? String == "rotor-job-1")
            #expect(key["expire"] as? Bool == true)
            #expect(key["date_expire"] as? String == "2099-01-01T00:00:00Z")
            #expect((key["date_created"] as? String).flatMap { try? Date.ISO8601FormatStyle().parse($0) } != nil)

            let stored = fake.keys(ofUser: userID)
            #expect(stored.map(\.secret) == [initial, secret])

            let account = try await client.send(.GET, "/v2/account", key: secret)
            #expect(account.status == .ok)
            let details = try #require(try account.object()["account"] as? [String: Any])
            #expect(details["email"] as? String == "ops@example.com")
            #expect((details["acls"] as? [String])?.contains("manage_users") == true)
        }
        #expect(fake.requestCounts(.create) == .init(received: 1, succeeded: 1))
    }

    @Test("list and get show keys masked to their last 5 characters, never the plaintext")
    func masked() async throws {
        let fake = FakeVultr()
        let (_, initial) = fake.addUser()
        try await fake.withClient { client in
            let created = try await client.create(key: initial, name: "second")
            let secret = try #require(created["api_key"] as? String)
            let id = try #require(created["id"] as? String)

            let list = try await client.send(.GET, "/v2/apikeys", key: initial)
            #expect(list.status == .ok)
            #expect(!list.body.contains(secret) && !list.body.contains(initial))
            let object = try list.object()
            let keys = try #require(object["api_keys"] as? [[String: Any]])
            #expect(keys.compactMap { $0["name"] as? String } == ["initial", "second"])
            #expect(keys.last?["api_key"] as? String == String(repeating: "*", count: 31) + secret.suffix(5))
            let meta = try #require(object["meta"] as? [String: Any])
            #expect(meta["total"] as? Int == 2)
            #expect((meta["links"] as? [String: Any])?["next"] as? String == "")

            let one = try await client.send(.GET, "/v2/apikeys/\(id)", key: initial)
            #expect(one.status == .ok)
            #expect(!one.body.contains(secret))
            let key = try #require(try one.object()["api_key"] as? [String: Any])
            #expect(key["id"] as? String == id)
            #expect(key["api_key"] as? String == StoredKey.mask(secret))
            #expect(key["expire"] as? Bool == false)
            #expect(key["date_expire"] is NSNull)
        }
    }

    @Test("a deleted key gets 401 everywhere, a second delete is 404, and a key may delete itself")
    func delete() async throws {
        let fake = FakeVultr()
        let (userID, initial) = fake.addUser()
        try await fake.withClient { client in
            let created = try await client.create(key: initial, name: "new")
            let newSecret = try #require(created["api_key"] as? String)
            let oldID = try #require(fake.keys(ofUser: userID).first?.id)

            // The rotation's revoke: the new key deletes the old one.
            let before = ContinuousClock.now
            let deleted = try await client.send(.DELETE, "/v2/apikeys/\(oldID)", key: newSecret)
            let after = ContinuousClock.now
            #expect(deleted.status == .noContent)
            #expect(deleted.body.isEmpty)
            #expect(fake.key(id: oldID) == nil)
            // When it was deleted, for benchmarks; a live key has no deletion time.
            let deletedAt = try #require(fake.deletionTime(of: oldID))
            #expect(deletedAt >= before && deletedAt <= after)
            #expect(fake.deletionTime(of: try #require(created["id"] as? String)) == nil)

            for (method, path) in [(HTTPMethod.GET, "/v2/account"), (.GET, "/v2/apikeys"), (.GET, "/v2/apikeys/\(oldID)"), (.POST, "/v2/apikeys"), (.DELETE, "/v2/apikeys/\(oldID)")] {
                try await client.send(method, path, key: initial).expectVultrError(.unauthorized)
            }
            try await client.send(.DELETE, "/v2/apikeys/\(oldID)", key: newSecret).expectVultrError(.notFound)

            let newID = try #require(created["id"] as? String)
            #expect(try await client.send(.DELETE, "/v2/apikeys/\(newID)", key: newSecret).status == .noContent)
            try await client.send(.GET, "/v2/account", key: newSecret).expectVultrError(.unauthorized)
        }
        #expect(fake.keys(ofUser: userID).isEmpty)
        #expect(fake.requestCounts(.delete) == .init(received: 4, succeeded: 2))
    }

    @Test("one user's key can neither list, get nor delete another user's keys")
    func usersIsolated() async throws {
        let fake = FakeVultr()
        let (userA, keyA) = fake.addUser(name: "A", email: "a@example.com")
        let (_, keyB) = fake.addUser(name: "B", email: "b@example.com")
        let idA = try #require(fake.keys(ofUser: userA).first?.id)
        try await fake.withClient { client in
            let list = try await client.send(.GET, "/v2/apikeys", key: keyB)
            let listed = try #require(try list.object()["api_keys"] as? [[String: Any]])
            #expect(listed.count == 1)
            #expect(listed.first?["id"] as? String != idA)

            try await client.send(.GET, "/v2/apikeys/\(idA)", key: keyB).expectVultrError(.notFound)
            try await client.send(.DELETE, "/v2/apikeys/\(idA)", key: keyB).expectVultrError(.notFound)
            #expect(try await client.send(.GET, "/v2/account", key: keyA).status == .ok)
            let account = try await client.send(.GET, "/v2/account", key: keyB)
            #expect((try account.object()["account"] as? [String: Any])?["email"] as? String == "b@example.com")
        }
        #expect(fake.keys(ofUser: userA).count == 1)
    }

    @Test("paging with per_page=2 over 5 keys visits each once and ends with an empty next")
    func paging() async throws {
        let fake = FakeVultr()
        let (userID, initial) = fake.addUser()
        for index in 1...4 { fake.addKey(toUser: userID, name: "key-\(index)") }
        let expected = fake.keys(ofUser: userID).map(\.id)
        #expect(expected.count == 5)
        try await fake.withClient { client in
            var seen: [String] = []
            var cursor = ""
            var pages = 0
            repeat {
                let reply = try await client.send(.GET, "/v2/apikeys?per_page=2&cursor=\(queryEncoded(cursor))", key: initial)
                try #require(reply.status == .ok)
                let object = try reply.object()
                let keys = try #require(object["api_keys"] as? [[String: Any]])
                #expect(keys.count <= 2)
                seen += keys.compactMap { $0["id"] as? String }
                let meta = try #require(object["meta"] as? [String: Any])
                #expect(meta["total"] as? Int == 5)
                cursor = try #require((meta["links"] as? [String: Any])?["next"] as? String)
                pages += 1
            } while !cursor.isEmpty && pages < 10
            #expect(pages == 3)
            #expect(seen == expected)

            try await client.send(.GET, "/v2/apikeys?cursor=not-a-cursor", key: initial).expectVultrError(.badRequest)
            try await client.send(.GET, "/v2/apikeys?per_page=zero", key: initial).expectVultrError(.badRequest)
        }
    }

    @Test("a malformed or mistyped create body is 400 in Vultr's shape and creates nothing", arguments: [
        "{not json", #"{"name": 5}"#, #"{"expire": "yes"}"#, #"["name"]"#, #"{"expire": true}"#, #"{"expire": true, "date_expire": "tomorrow"}"#,
    ])
    func malformedCreate(body: String) async throws {
        let fake = FakeVultr()
        let (userID, initial) = fake.addUser()
        try await fake.withClient { client in
            try await client.send(.POST, "/v2/apikeys", key: initial, body: body).expectVultrError(.badRequest)
        }
        #expect(fake.keys(ofUser: userID).count == 1)
    }

    @Test("create without a body makes an unnamed key that does not expire")
    func createWithoutBody() async throws {
        let fake = FakeVultr()
        let (_, initial) = fake.addUser()
        try await fake.withClient { client in
            let reply = try await client.send(.POST, "/v2/apikeys", key: initial)
            #expect(reply.status == .created)
            let key = try #require(try reply.object()["api_key"] as? [String: Any])
            #expect(key["name"] as? String == "")
            #expect(key["expire"] as? Bool == false)
        }
    }
}
