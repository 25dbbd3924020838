import AsyncHTTPClient
import FakeVultr
import Foundation
import NIOCore
import NIOHTTP1
import RotorAPI
import RotorCore
import RotorCrypto
import RotorHTTP
import Testing

@Suite struct CredentialRouteTests {
    /// A valid create body for `apiKey`, with `changes` merged over it.
    static func createBody(name: String = "billing", apiKey: String, _ changes: [String: Any] = [:]) -> [String: Any] {
        var body: [String: Any] = [
            "name": name,
            "provider": "vultr",
            "secret": apiKey,
            "targets": [["type": "webhook", "url": "https://consumer.example.com/hooks/rotor"]],
        ]
        for (key, value) in changes { body[key] = value }
        return body
    }

    /// Creates a credential for a new fake user and returns the reply, the user and its key.
    static func create(_ api: APIHarness, name: String = "billing", _ changes: [String: Any] = [:]) async throws
        -> (reply: APIHarness.Reply, userID: String, apiKey: String)
    {
        let user = api.fake.addUser()
        let reply = try await api.send(.POST, "/v1/credentials", json: Self.createBody(name: name, apiKey: user.apiKey, changes))
        return (reply, user.userID, user.apiKey)
    }

    private static func count(_ api: APIHarness) async throws -> Int {
        try await api.store.credentials(PageRequest(limit: 200)).items.count
    }

    // MARK: Create

    @Test("create: 201, Location, the stored key id and fingerprint, a generated signing secret shown once")
    func create() async throws {
        try await APIHarness.run { api in
            let (reply, userID, apiKey) = try await Self.create(api, [
                "labels": ["team": "billing"],
                "schedule": ["every": "P30D"],
                "key_expiry": "P90D",
            ])
            #expect(reply.status == .created, "\(reply)")
            let body = reply.object
            let id = try #require(body["id"] as? String)
            #expect(id.hasPrefix("cred_"))
            #expect(reply.location == "/v1/credentials/\(id)")
            #expect(reply.headers.first(name: "Content-Type") == "application/json")
            #expect(body["name"] as? String == "billing")
            #expect(body["provider"] as? String == "vultr")
            #expect(body["state"] as? String == "active")
            #expect(body["version"] as? Int == 1)
            #expect(body["key_expiry"] as? String == "P90D")
            #expect(body["labels"] as? [String: String] == ["team": "billing"])
            #expect((body["schedule"] as? [String: Any])?["every"] as? String == "P30D")
            #expect((body["schedule"] as? [String: Any])?["before_expiry"] is NSNull)
            #expect(body["previous"] is NSNull)
            #expect(body["last_rotated_at"] is NSNull)
            #expect(body["next_rotation_at"] is String)
            #expect(body["secret"] == nil)

            let fakeKeys = api.fake.keys(ofUser: userID)
            #expect(fakeKeys.count == 1)
            let current = try #require(body["current"] as? [String: Any])
            #expect(current["provider_key_id"] as? String == fakeKeys.first?.id)
            #expect(current["fingerprint"] as? String == SHA256.fingerprint(of: apiKey))
            #expect(current["expires_at"] is NSNull)

            let targets = try #require(body["targets"] as? [[String: Any]])
            #expect(targets.count == 1)
            let signingSecret = try #require(targets.first?["signing_secret"] as? String)
            #expect(signingSecret.hasPrefix("whsec_"))
            #expect((try? WebhookSecret(encoded: signingSecret)) != nil)
            #expect((targets.first?["id"] as? String)?.hasPrefix("tgt_") == true)
            #expect(targets.first?["verify_url"] is NSNull)

            // The store holds the same key and the generated signing secret.
            let credentialID = try #require(CredentialID(id))
            let stored = try #require(try await api.store.credential(credentialID))
            #expect(stored.current.providerKeyID == fakeKeys.first?.id)
            let secrets = try await api.store.credentialSecrets(credentialID)
            #expect(secrets.current.reveal() == apiKey)
            #expect(secrets.signingSecrets.values.map { $0.reveal() } == [signingSecret])

            // Shown once: GET never returns it.
            let fetched = try await api.send(.GET, "/v1/credentials/\(id)")
            #expect(fetched.status == .ok)
            #expect(!fetched.body.contains(signingSecret))
            #expect(!fetched.body.contains("signing_secret"))
            #expect((fetched.object["targets"] as? [[String: Any]])?.first?["id"] as? String == targets.first?["id"] as? String)
        }
    }

    @Test("GET /v1/providers lists the built-in definitions, each with its management")
    func providers() async throws {
        try await APIHarness.run { api in
            let reply = try await api.send(.GET, "/v1/providers")
            #expect(reply.status == .ok)
            let entries = try #require((reply.json as? [String: Any])?["data"] as? [[String: Any]])
            #expect(entries.compactMap { $0["name"] as? String } == ["vultr", "vultr-user"])
            #expect(entries.map { $0["available"] as? Bool } == [true, true])
            #expect(entries.map { $0["management"] as? String } == ["self", "manager"])
            #expect(entries.map { $0["base_url"] as? String } == [api.vultrBaseURL, api.vultrBaseURL])
        }
    }

    @Test("a sub-user's key through a manager credential: fields required together, permission checked, the manager kept while named")
    func managerCredentials() async throws {
        try await APIHarness.run { api in
            let (root, rootKey) = api.fake.addUser()
            let (user, userKey) = try #require(api.fake.addSubUser(to: root, name: "Workload", email: "w@example.com"))
            let (_, helperKey) = try #require(api.fake.addSubUser(to: root, name: "Helper", email: "h@example.com"))
            let manager = try await api.send(.POST, "/v1/credentials", json: ["name": "root", "provider": "vultr", "secret": rootKey, "targets": []])
            #expect(manager.status == .created)
            let managerID = try #require((manager.json as? [String: Any])?["id"] as? String)

            // Both fields for vultr-user, neither for vultr.
            let bare = try await api.send(.POST, "/v1/credentials", json: ["name": "w", "provider": "vultr-user", "secret": userKey, "targets": []])
            #expect(bare.status == .unprocessableEntity)
            #expect(bare.fields == ["manager_credential_id", "subject"])
            let extra = try await api.send(
                .POST, "/v1/credentials", json: ["name": "w", "provider": "vultr", "secret": userKey, "targets": [], "manager_credential_id": managerID, "subject": user])
            #expect(extra.status == .unprocessableEntity)
            #expect(extra.fields == ["manager_credential_id", "subject"])

            // A manager whose key may not manage users: 422 on manager_credential_id, nothing stored.
            let weak = try await api.send(.POST, "/v1/credentials", json: ["name": "weak", "provider": "vultr", "secret": helperKey, "targets": []])
            let weakID = try #require((weak.json as? [String: Any])?["id"] as? String)
            let denied = try await api.send(
                .POST, "/v1/credentials", json: ["name": "w", "provider": "vultr-user", "secret": userKey, "targets": [], "manager_credential_id": weakID, "subject": user])
            #expect(denied.status == .unprocessableEntity, "\(denied.body)")
            #expect(denied.fields == ["manager_credential_id"])

            let created = try await api.send(
                .POST, "/v1/credentials", json: ["name": "w", "provider": "vultr-user", "secret": userKey, "targets": [], "manager_credential_id": managerID, "subject": user])
            #expect(created.status == .created, "\(created.body)")
            let object = try #require(created.json as? [String: Any])
            #expect(object["manager_credential_id"] as? String == managerID)
            #expect(object["subject"] as? String == user)
            #expect((object["current"] as? [String: Any])?["provider_key_id"] as? String == api.fake.keys(ofUser: user).first?.id)
            #expect(!created.body.contains(userKey) && !created.body.contains(rootKey))

            // A managed credential cannot itself manage; the manager cannot go while named.
            let chained = try await api.send(
                .POST, "/v1/credentials",
                json: ["name": "w2", "provider": "vultr-user", "secret": userKey, "targets": [], "manager_credential_id": object["id"] as? String ?? "", "subject": user])
            #expect(chained.fields == ["manager_credential_id"])
            let delete = try await api.send(.DELETE, "/v1/credentials/\(managerID)")
            #expect(delete.status == .conflict)
            #expect(delete.body.contains("manager_in_use"))
            let disable = try await api.send(.PATCH, "/v1/credentials/\(managerID)", json: ["state": "disabled"])
            #expect(disable.status == .conflict)
            #expect(try await api.send(.GET, "/v1/credentials/\(managerID)").status == .ok)
            #expect(try await api.send(.DELETE, "/v1/credentials/\(weakID)").status == .noContent)
        }
    }

    @Test("create: a signing secret the caller brings is stored but not echoed; verify_url is kept")
    func createWithOwnSigningSecret() async throws {
        try await APIHarness.run { api in
            let own = WebhookSecret.generate().encoded
            let (reply, _, _) = try await Self.create(api, [
                "targets": [
                    ["type": "webhook", "url": "http://127.0.0.1:9/hook", "signing_secret": own, "verify_url": "https://consumer.example.com/ok"],
                    ["type": "webhook", "url": "https://other.example.com/hook"],
                ]
            ])
            #expect(reply.status == .created, "\(reply)")
            #expect(!reply.body.contains(own))
            let targets = try #require(reply.object["targets"] as? [[String: Any]])
            #expect(targets.count == 2)
            #expect(targets[0]["signing_secret"] == nil)
            #expect(targets[0]["verify_url"] as? String == "https://consumer.example.com/ok")
            #expect((targets[1]["signing_secret"] as? String)?.hasPrefix("whsec_") == true)
            let id = try #require(reply["id"].flatMap(CredentialID.init))
            let firstID = try #require((targets[0]["id"] as? String).flatMap(TargetID.init))
            #expect(try await api.store.credentialSecrets(id).signingSecrets[firstID]?.reveal() == own)
        }
    }

    @Test("create: an explicit provider_key_id picks among keys that share the suffix")
    func createWithExplicitKeyID() async throws {
        try await APIHarness.run { api in
            let user = api.fake.addUser()
            let other = try #require(api.fake.addKey(toUser: user.userID, name: "other"))
            let initial = try #require(api.fake.keys(ofUser: user.userID).first { $0.id != other.id })
            let reply = try await api.send(.POST, "/v1/credentials", json: Self.createBody(apiKey: user.apiKey, ["provider_key_id": initial.id]))
            #expect(reply.status == .created, "\(reply)")
            #expect((reply.object["current"] as? [String: Any])?["provider_key_id"] as? String == initial.id)
        }
    }

    @Test("create rejects bad input with 400/415/422 and stores nothing")
    func createRejects() async throws {
        try await APIHarness.run { api in
            let user = api.fake.addUser()
            func expectRejected(
                _ reply: APIHarness.Reply, _ status: HTTPResponseStatus, _ code: String, field: String? = nil,
                sourceLocation: SourceLocation = #_sourceLocation
            ) async throws {
                #expect(reply.status == status, "\(reply)", sourceLocation: sourceLocation)
                #expect(reply.code == code, "\(reply)", sourceLocation: sourceLocation)
                #expect(reply.headers.first(name: "Content-Type") == "application/problem+json", sourceLocation: sourceLocation)
                if let field { #expect(reply.fields.contains(field), "\(reply)", sourceLocation: sourceLocation) }
                #expect(!reply.body.contains(user.apiKey), sourceLocation: sourceLocation)
                #expect(try await Self.count(api) == 0, sourceLocation: sourceLocation)
            }
            let good = Self.createBody(apiKey: user.apiKey)
            func with(_ key: String, _ value: Any) -> [String: Any] {
                var body = good
                body[key] = value
                return body
            }

            try await expectRejected(try await api.send(.POST, "/v1/credentials", body: #"{"name": "x", "#), .badRequest, "invalid_json")
            try await expectRejected(
                try await api.send(.POST, "/v1/credentials", body: "name=x", contentType: "application/x-www-form-urlencoded"),
                .unsupportedMediaType, "unsupported_media_type")
            try await expectRejected(try await api.send(.POST, "/v1/credentials", json: with("targets", "nope")), .unprocessableEntity, "invalid_request", field: "targets")
            try await expectRejected(try await api.send(.POST, "/v1/credentials", json: with("provider", "aws")), .unprocessableEntity, "invalid_request", field: "provider")
            try await expectRejected(try await api.send(.POST, "/v1/credentials", json: with("name", "has space")), .unprocessableEntity, "invalid_request", field: "name")
            try await expectRejected(try await api.send(.POST, "/v1/credentials", json: with("name", String(repeating: "a", count: 65))), .unprocessableEntity, "invalid_request", field: "name")
            try await expectRejected(try await api.send(.POST, "/v1/credentials", json: with("secret", "")), .unprocessableEntity, "invalid_request", field: "secret")
            try await expectRejected(try await api.send(.POST, "/v1/credentials", json: with("secret", String(repeating: "A", count: 257))), .unprocessableEntity, "invalid_request", field: "secret")
            try await expectRejected(
                try await api.send(.POST, "/v1/credentials", json: with("targets", [["type": "webhook", "url": "http://consumer.example.com/hook"]])),
                .unprocessableEntity, "invalid_request", field: "targets[0].url")
            try await expectRejected(
                try await api.send(.POST, "/v1/credentials", json: with("targets", [["type": "webhook", "url": "https://a.example.com", "signing_secret": "whsec_!!"]])),
                .unprocessableEntity, "invalid_request", field: "targets[0].signing_secret")
            try await expectRejected(try await api.send(.POST, "/v1/credentials", json: with("key_expiry", "30 days")), .unprocessableEntity, "invalid_request", field: "key_expiry")
            try await expectRejected(try await api.send(.POST, "/v1/credentials", json: with("schedule", ["every": "P"])), .unprocessableEntity, "invalid_request", field: "schedule.every")
            try await expectRejected(try await api.send(.POST, "/v1/credentials", json: with("labels", ["bad key": "x"])), .unprocessableEntity, "invalid_request", field: "labels")

            // Every field error at once.
            let many = try await api.send(.POST, "/v1/credentials", json: [
                "name": "", "provider": "aws", "targets": [["type": "email", "url": "ftp://x"]], "key_expiry": "PT0S",
            ])
            try await expectRejected(many, .unprocessableEntity, "invalid_request")
            #expect(Set(many.fields) == ["name", "provider", "secret", "targets[0].type", "targets[0].url", "key_expiry"], "\(many)")
            // Validation comes before the provider is asked.
            #expect(api.fake.requestCounts(.account).received == 0)

            // The provider refuses a key it does not know.
            let wrong = "WRONGKEY0000000000000000000000000000"
            let rejected = try await api.send(.POST, "/v1/credentials", json: with("secret", wrong))
            try await expectRejected(rejected, .unprocessableEntity, "provider_rejected")
            #expect(!rejected.body.contains(wrong))

            // provider_key_id must be a key of the secret's account.
            try await expectRejected(
                try await api.send(.POST, "/v1/credentials", json: with("provider_key_id", UUID().uuidString.lowercased())),
                .unprocessableEntity, "invalid_request", field: "provider_key_id")
        }
    }

    /// A provider that accepts any key and lists fixed keys.
    struct ListingProvider: Provider {
        var keys: [ProviderKey]
        var kind: ProviderKind { .vultr }
        func verify(key: Secret) async throws(ProviderError) {}
        func createKey(name: String, expiresAt: Date?, using key: Secret) async throws(ProviderError) -> CreatedKey {
            throw ProviderError(.permanent, message: "not supported")
        }
        func listKeys(using key: Secret) async throws(ProviderError) -> [ProviderKey] { self.keys }
        func deleteKey(id: String, using key: Secret) async throws(ProviderError) {}
    }

    @Test("create: a key the suffix matches twice, or not at all, needs provider_key_id")
    func createAmbiguous() async throws {
        let expiry = Date(timeIntervalSince1970: 1_900_000_000)
        let keys = [
            ProviderKey(id: "key-a", name: "", visibleSuffix: "ABCDE"),
            ProviderKey(id: "key-b", name: "", visibleSuffix: "ABCDE", expiresAt: expiry),
            ProviderKey(id: "key-c", name: "", visibleSuffix: "ZZZZZ"),
        ]
        try await APIHarness.run(providers: [.vultr: ListingProvider(keys: keys)]) { api in
            let ambiguous = try await api.send(.POST, "/v1/credentials", json: Self.createBody(apiKey: "SECRET0000ABCDE"))
            #expect(ambiguous.status == .unprocessableEntity, "\(ambiguous)")
            #expect(ambiguous.fields == ["provider_key_id"])
            let unknown = try await api.send(.POST, "/v1/credentials", json: Self.createBody(apiKey: "SECRET0000QQQQQ"))
            #expect(unknown.status == .unprocessableEntity, "\(unknown)")
            #expect(unknown.fields == ["provider_key_id"])
            #expect(try await Self.count(api) == 0)

            let explicit = try await api.send(.POST, "/v1/credentials", json: Self.createBody(apiKey: "SECRET0000ABCDE", ["provider_key_id": "key-b"]))
            #expect(explicit.status == .created, "\(explicit)")
            let current = try #require(explicit.object["current"] as? [String: Any])
            #expect(current["provider_key_id"] as? String == "key-b")
            #expect(current["expires_at"] as? String == "2030-03-17T17:46:40Z")
            let bySuffix = try await api.send(.POST, "/v1/credentials", json: Self.createBody(name: "other", apiKey: "SECRET0000ZZZZZ"))
            #expect((bySuffix.object["current"] as? [String: Any])?["provider_key_id"] as? String == "key-c")
        }
    }

    @Test("create: a duplicate name is 409 duplicate_name and the first credential stays")
    func duplicateName() async throws {
        try await APIHarness.run { api in
            let first = try await Self.create(api, name: "shared")
            #expect(first.reply.status == .created)
            let second = try await Self.create(api, name: "shared")
            #expect(second.reply.status == .conflict, "\(second.reply)")
            #expect(second.reply.code == "duplicate_name")
            #expect(try await Self.count(api) == 1)
            let stored = try await api.store.credentials(PageRequest()).items
            #expect(stored.first?.current.fingerprint == SHA256.fingerprint(of: first.apiKey))
        }
    }

    @Test("create: a key another credential holds is 409 duplicate_key naming it, by secret or by provider_key_id; another key of the account is fine")
    func duplicateKey() async throws {
        try await APIHarness.run { api in
            let first = try await Self.create(api, name: "first")
            #expect(first.reply.status == .created)
            let firstID = try #require(first.reply["id"])

            let again = try await api.send(.POST, "/v1/credentials", json: Self.createBody(name: "second", apiKey: first.apiKey))
            #expect(again.status == .conflict, "\(again)")
            #expect(again.code == "duplicate_key")
            #expect(again["credential_id"] == firstID)
            #expect(again.headers.first(name: "Content-Type") == "application/problem+json")
            #expect(!again.body.contains(first.apiKey))

            let keyID = try #require(api.fake.keys(ofUser: first.userID).first?.id)
            let byID = try await api.send(
                .POST, "/v1/credentials", json: Self.createBody(name: "third", apiKey: first.apiKey, ["provider_key_id": keyID]))
            #expect(byID.status == .conflict, "\(byID)")
            #expect(byID["credential_id"] == firstID)
            #expect(try await Self.count(api) == 1)

            // Another key of the same account is another credential.
            let other = try #require(api.fake.addKey(toUser: first.userID))
            let second = try await api.send(
                .POST, "/v1/credentials", json: Self.createBody(name: "fourth", apiKey: other.secret, ["provider_key_id": other.id]))
            #expect(second.status == .created, "\(second)")
            #expect(try await Self.count(api) == 2)
        }
    }

    @Test("create: a provider outage is 503 unavailable and stores nothing")
    func providerUnavailable() async throws {
        try await APIHarness.run { api in
            let user = api.fake.addUser()
            api.fake.failNext(1, status: .internalServerError)
            let reply = try await api.send(.POST, "/v1/credentials", json: Self.createBody(apiKey: user.apiKey))
            #expect(reply.status == .serviceUnavailable, "\(reply)")
            #expect(reply.code == "unavailable")
            #expect(try await Self.count(api) == 0)
        }
    }

    // MARK: Read

    @Test("get and list: pages by name, limits validated, unknown and ill-formed ids are 404")
    func getAndList() async throws {
        try await APIHarness.run { api in
            let a = try await Self.create(api, name: "alpha")
            let b = try await Self.create(api, name: "beta")
            #expect(a.reply.status == .created && b.reply.status == .created)

            let first = try await api.send(.GET, "/v1/credentials?limit=1")
            #expect(first.status == .ok, "\(first)")
            let firstData = try #require(first.object["data"] as? [[String: Any]])
            #expect(firstData.map { $0["name"] as? String } == ["alpha"])
            let cursor = try #require(first.object["next_cursor"] as? String)

            let second = try await api.send(.GET, "/v1/credentials?limit=1&cursor=\(cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? cursor)")
            #expect(second.status == .ok, "\(second)")
            #expect((second.object["data"] as? [[String: Any]])?.map { $0["name"] as? String } == ["beta"])
            #expect(second.object["next_cursor"] is NSNull)

            let all = try await api.send(.GET, "/v1/credentials")
            #expect((all.object["data"] as? [[String: Any]])?.count == 2)
            #expect(all.object["next_cursor"] is NSNull)

            for limit in ["0", "500", "abc"] {
                let reply = try await api.send(.GET, "/v1/credentials?limit=\(limit)")
                #expect(reply.status == .unprocessableEntity, "\(limit): \(reply)")
                #expect(reply.fields == ["limit"])
            }
            let badCursor = try await api.send(.GET, "/v1/credentials?cursor=not-a-cursor")
            #expect(badCursor.status == .unprocessableEntity, "\(badCursor)")
            #expect(badCursor.fields == ["cursor"])

            let id = try #require(a.reply["id"])
            let fetched = try await api.send(.GET, "/v1/credentials/\(id)")
            #expect(fetched.status == .ok)
            #expect(fetched["name"] == "alpha")
            #expect(fetched.object.keys.sorted() == [
                "created_at", "current", "id", "key_expiry", "labels", "last_rotated_at", "manager_credential_id", "name",
                "next_rotation_at", "previous", "provider", "schedule", "state", "subject", "targets", "updated_at", "version",
            ])
            #expect(fetched.object["schedule"] is NSNull)
            #expect((fetched["created_at"]).flatMap { ISO8601DateFormatter().date(from: $0) } != nil)

            for path in ["/v1/credentials/\(CredentialID.generate().rawValue)", "/v1/credentials/job_0123456789abcdefghjkmnpqrs", "/v1/credentials/x"] {
                let reply = try await api.send(.GET, path)
                #expect(reply.status == .notFound, "\(path)")
                #expect(reply.code == "not_found")
            }
            // The bearer token is still required.
            #expect(try await api.send(.GET, "/v1/credentials", token: nil).status == .unauthorized)
        }
    }

    // MARK: Patch

    @Test("patch: labels, schedule and state change; targets replaced with new generated secrets")
    func patch() async throws {
        try await APIHarness.run { api in
            let created = try await Self.create(api, ["labels": ["team": "a"]])
            let id = try #require(created.reply["id"])
            let path = "/v1/credentials/\(id)"

            let labelled = try await api.send(.PATCH, path, json: ["labels": ["team": "b", "env": "prod"], "schedule": ["before_expiry": "P7D"]])
            #expect(labelled.status == .ok, "\(labelled)")
            #expect(labelled.object["labels"] as? [String: String] == ["team": "b", "env": "prod"])
            #expect((labelled.object["schedule"] as? [String: Any])?["before_expiry"] as? String == "P7D")
            #expect(labelled.object["targets"] as? [[String: Any]] != nil)
            #expect(!labelled.body.contains("signing_secret"))

            let disabled = try await api.send(.PATCH, path, json: ["state": "disabled"])
            #expect(disabled["state"] == "disabled")
            let credentialID = try #require(CredentialID(id))
            let stored = try #require(try await api.store.credential(credentialID))
            #expect(stored.state == .disabled)
            #expect(stored.labels == ["team": "b", "env": "prod"])
            let active = try await api.send(.PATCH, path, json: ["state": "active", "schedule": NSNull()])
            #expect(active["state"] == "active")
            #expect(active.object["schedule"] is NSNull)

            let rotating = try await api.send(.PATCH, path, json: ["state": "rotating"])
            #expect(rotating.status == .unprocessableEntity)
            #expect(rotating.fields == ["state"])

            // Only schedule may be null; a null elsewhere is not "unchanged" but an error.
            for field in ["state", "targets", "labels"] {
                let null = try await api.send(.PATCH, path, json: [field: NSNull()])
                #expect(null.status == .unprocessableEntity, "\(field): \(null)")
                #expect(null.fields == [field], "\(null)")
            }

            let retargeted = try await api.send(.PATCH, path, json: ["targets": [["type": "webhook", "url": "https://new.example.com/hook"]]])
            #expect(retargeted.status == .ok, "\(retargeted)")
            let targets = try #require(retargeted.object["targets"] as? [[String: Any]])
            #expect(targets.map { $0["url"] as? String } == ["https://new.example.com/hook"])
            let newSecret = try #require(targets.first?["signing_secret"] as? String)
            let secrets = try await api.store.credentialSecrets(try #require(CredentialID(id)))
            #expect(secrets.signingSecrets.values.map { $0.reveal() } == [newSecret])
        }
    }

    @Test("patch rejects an empty body and invalid targets, leaving the credential unchanged")
    func patchRejects() async throws {
        try await APIHarness.run { api in
            let created = try await Self.create(api)
            let id = try #require(created.reply["id"])
            let path = "/v1/credentials/\(id)"
            let before = try await api.send(.GET, path)

            let empty = try await api.send(.PATCH, path, json: [String: Any]())
            #expect(empty.status == .unprocessableEntity, "\(empty)")
            #expect(empty.code == "invalid_request")
            #expect(empty["detail"]?.contains("Nothing to change") == true)

            let badTarget = try await api.send(.PATCH, path, json: ["labels": ["x": "y"], "targets": [["type": "webhook", "url": "http://evil.example.com"]]])
            #expect(badTarget.status == .unprocessableEntity)
            #expect(badTarget.fields == ["targets[0].url"])

            let after = try await api.send(.GET, path)
            #expect(after.object as NSDictionary == before.object as NSDictionary)
            #expect(after.object["labels"] as? [String: String] == [:])

            let unknown = try await api.send(.PATCH, "/v1/credentials/\(CredentialID.generate().rawValue)", json: ["labels": [String: String]()])
            #expect(unknown.status == .notFound)
            let notJSON = try await api.send(.PATCH, path, body: "{", contentType: "application/json")
            #expect(notJSON.status == .badRequest)
        }
    }

    // MARK: Delete

    @Test("delete: 204 then 404; the key at the provider is left alone")
    func delete() async throws {
        try await APIHarness.run { api in
            let created = try await Self.create(api)
            let id = try #require(created.reply["id"])
            let deleted = try await api.send(.DELETE, "/v1/credentials/\(id)")
            #expect(deleted.status == .noContent)
            #expect(deleted.body.isEmpty)
            #expect(try await api.send(.GET, "/v1/credentials/\(id)").status == .notFound)
            #expect(try await api.send(.DELETE, "/v1/credentials/\(id)").status == .notFound)
            #expect(try await api.send(.DELETE, "/v1/credentials/nope").status == .notFound)
            #expect(api.fake.keys(ofUser: created.userID).map(\.secret) == [created.apiKey])
        }
    }

    @Test("delete and state changes during an active job are 409 rotation_in_progress")
    func deleteDuringJob() async throws {
        try await APIHarness.run { api in
            let created = try await Self.create(api)
            let id = try #require(created.reply["id"].flatMap(CredentialID.init))
            let creation = try await api.store.createJob(
                NewJob(credentialID: id, trigger: Trigger(kind: .api), at: Date()),
                idempotencyKey: nil, requestFingerprint: nil, events: []
            )
            guard case .created(let job) = creation else {
                Issue.record("the job was not created")
                return
            }
            let reply = try await api.send(.DELETE, "/v1/credentials/\(id.rawValue)")
            #expect(reply.status == .conflict, "\(reply)")
            #expect(reply.code == "rotation_in_progress")
            #expect(reply["job_id"] == job.id.rawValue)
            #expect(try await api.store.credential(id) != nil)

            let disable = try await api.send(.PATCH, "/v1/credentials/\(id.rawValue)", json: ["state": "disabled"])
            #expect(disable.status == .conflict, "\(disable)")
            #expect(disable.code == "rotation_in_progress")
            #expect(disable["job_id"] == job.id.rawValue)
            #expect(try await api.store.credential(id)?.state == .rotating)
            // Labels may still change.
            let labelled = try await api.send(.PATCH, "/v1/credentials/\(id.rawValue)", json: ["labels": ["k": "v"]])
            #expect(labelled.status == .ok)
            #expect(labelled["state"] == "rotating")
        }
    }

    // MARK: Security

    @Test("no response ever carries the credential's secret")
    func secretNeverReturned() async throws {
        try await APIHarness.run { api in
            let created = try await Self.create(api, ["labels": ["owner": "ops"]])
            #expect(created.reply.status == .created)
            let id = try #require(created.reply["id"])
            var bodies = [created.reply.body]
            bodies.append(try await api.send(.GET, "/v1/credentials/\(id)").body)
            bodies.append(try await api.send(.GET, "/v1/credentials").body)
            bodies.append(try await api.send(.PATCH, "/v1/credentials/\(id)", json: ["labels": ["owner": "sec"]]).body)
            // A duplicate create echoes nothing either.
            bodies.append(try await api.send(.POST, "/v1/credentials", json: Self.createBody(apiKey: created.apiKey)).body)
            for body in bodies {
                #expect(!body.contains(created.apiKey))
                #expect(!body.contains(String(created.apiKey.prefix(12))))
            }
        }
    }

    @Test("over a real socket: create then get")
    func live() async throws {
        try await APIHarness.run { api in
            let user = api.fake.addUser()
            let body = try JSONSerialization.data(withJSONObject: Self.createBody(name: "live", apiKey: user.apiKey))
            try await api.withServer { baseURL in
                var request = HTTPClientRequest(url: baseURL + "/v1/credentials")
                request.method = .POST
                request.headers.add(name: "Authorization", value: "Bearer \(AuthTests.token)")
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: Array(body)))
                let created = try await HTTPClient.shared.execute(request, timeout: APIHarness.socketDeadline)
                #expect(created.status == .created)
                let location = try #require(created.headers.first(name: "Location"))
                _ = try await created.body.collect(upTo: 1 << 16)

                var get = HTTPClientRequest(url: baseURL + location)
                get.headers.add(name: "Authorization", value: "Bearer \(AuthTests.token)")
                let fetched = try await HTTPClient.shared.execute(get, timeout: APIHarness.socketDeadline)
                #expect(fetched.status == .ok)
                let text = String(buffer: try await fetched.body.collect(upTo: 1 << 16))
                #expect(text.contains(#""name":"live""#))
                #expect(!text.contains(user.apiKey))
            }
        }
    }
}
