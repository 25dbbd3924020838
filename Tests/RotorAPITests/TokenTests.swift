import Foundation
import NIOHTTP1
import RotorAPI
import RotorCore
import RotorCrypto
import RotorSQLite
import Testing

/// Scoped tokens, the scope of every route, secret pull and the audit log, in-process over a real
/// SQLite store.
@Suite(.timeLimit(.minutes(1))) struct TokenTests {
    /// Creates a token through the API as admin; returns its id and value.
    static func createToken(
        _ api: APIHarness, scopes: [TokenScope], credentialIDs: [String]? = nil, expiresAt: String? = nil, name: String = "test"
    ) async throws -> (id: String, token: String) {
        var body: [String: Any] = ["name": name, "scopes": scopes.map(\.rawValue)]
        if let credentialIDs { body["credential_ids"] = credentialIDs }
        if let expiresAt { body["expires_at"] = expiresAt }
        let reply = try await api.send(.POST, "/v1/tokens", json: body)
        try #require(reply.status == .created, "\(reply)")
        return (try #require(reply["id"]), try #require(reply["token"]))
    }

    /// A path for a route template, ids made up (they need not exist: the scope check comes first).
    static func path(_ template: String) -> String {
        template
            .replacingOccurrences(of: "/credentials/{id}", with: "/credentials/cred_0000000000000000000000000a")
            .replacingOccurrences(of: "{target_id}", with: "tgt_0000000000000000000000000a")
            .replacingOccurrences(of: "/jobs/{id}", with: "/jobs/job_0000000000000000000000000a")
            .replacingOccurrences(of: "{id}", with: "x")
    }

    static let scopedRoutes: [(route: String, scope: TokenScope)] = RouteScopes.table.compactMap { route, access in
        if case .scope(let scope) = access { return (route, scope) }
        return nil
    }.sorted { $0.route < $1.route }

    @Test("every route answers 403 forbidden to a token with every scope but its own, and not 403 to one with its scope")
    func everyRouteChecksItsScope() async throws {
        #expect(Self.scopedRoutes.count == 31)
        try await APIHarness.run { api in
            for (route, scope) in Self.scopedRoutes {
                let parts = route.split(separator: " ", maxSplits: 1)
                let method = HTTPMethod(rawValue: String(parts[0]))
                let path = Self.path(String(parts[1]))
                let others = TokenScope.allCases.filter { $0 != scope && $0 != .admin && $0 != .secretsRead && $0 != .agent }
                let (_, without) = try await Self.createToken(api, scopes: others)
                let denied = try await api.send(method, path, json: [String: Any](), token: without)
                #expect(denied.status == .forbidden, "\(route) without \(scope.rawValue): \(denied)")
                #expect(denied.code == "forbidden", "\(route)")
                #expect(denied.headers.first(name: "Content-Type") == "application/problem+json", "\(route)")

                let bound = scope == .secretsRead || scope == .agent ? ["cred_0000000000000000000000000a"] : nil
                let (_, with) = try await Self.createToken(api, scopes: [scope], credentialIDs: bound)
                let allowed = try await api.send(method, path, json: [String: Any](), token: with)
                #expect(allowed.status != .forbidden && allowed.status != .unauthorized, "\(route) with \(scope.rawValue): \(allowed)")
            }
        }
    }

    @Test("admin implies every scope but secrets:read and agent; whoami answers any valid token with its scopes and binding")
    func adminAndWhoami() async throws {
        try await APIHarness.run { api in
            for (route, scope) in Self.scopedRoutes {
                let parts = route.split(separator: " ", maxSplits: 1)
                let reply = try await api.send(HTTPMethod(rawValue: String(parts[0])), Self.path(String(parts[1])), json: [String: Any]())
                if scope == .secretsRead || scope == .agent {
                    #expect(reply.status == .forbidden, "\(route): \(reply)")
                } else {
                    #expect(reply.status != .forbidden, "\(route): \(reply)")
                }
            }
            let (id, token) = try await Self.createToken(api, scopes: [.jobsRead], credentialIDs: ["cred_0000000000000000000000000a"])
            let whoami = try await api.send(.GET, "/v1/whoami", token: token)
            #expect(whoami.status == .ok)
            #expect(whoami["id"] == id)
            #expect(whoami.object["scopes"] as? [String] == ["jobs:read"])
            #expect(whoami.object["credential_ids"] as? [String] == ["cred_0000000000000000000000000a"])
            // Bodies are kept per principal: each token still gets its own, whatever came before.
            for _ in 0..<2 {
                let admin = try await api.send(.GET, "/v1/whoami")
                #expect(admin["id"] == "admin")
                #expect(admin.object["credential_ids"] == nil)
                let again = try await api.send(.GET, "/v1/whoami", token: token)
                #expect(again["id"] == id)
                #expect(again.object["scopes"] as? [String] == ["jobs:read"])
            }
        }
    }

    @Test("create shows the token once; list and get never; it is stored only as its SHA-256")
    func createListGet() async throws {
        try await APIHarness.run { api in
            let reply = try await api.send(.POST, "/v1/tokens", json: ["name": "ci", "scopes": ["jobs:write", "jobs:read"], "expires_at": "2099-01-01T00:00:00Z"])
            #expect(reply.status == .created)
            let id = try #require(reply["id"])
            let token = try #require(reply["token"])
            #expect(id.hasPrefix("tok_"))
            #expect(token.hasPrefix("rtr_") && token.count > 40)
            #expect(reply.location == "/v1/tokens/\(id)")
            #expect(reply["expires_at"] == "2099-01-01T00:00:00Z")
            #expect(reply.object["credential_ids"] is NSNull)

            let got = try await api.send(.GET, "/v1/tokens/\(id)")
            #expect(got.status == .ok)
            #expect(got["token"] == nil)
            #expect(got.object["scopes"] as? [String] == ["jobs:write", "jobs:read"])
            let list = try await api.send(.GET, "/v1/tokens?limit=1")
            #expect(list.body.contains(id))
            #expect(!list.body.contains(token))

            let tokens = api.store
            let stored = try await tokens.token(sha256: SHA256.hexDigest(token))
            #expect(stored?.id.rawValue == id)
        }
    }

    @Test("bad token requests are 422 naming each field", arguments: [
        (#"{"scopes": ["jobs:read"]}"#, "name"),
        (#"{"name": "x", "scopes": ["root"]}"#, "scopes[0]"),
        (#"{"name": "x", "scopes": []}"#, "scopes"),
        (#"{"name": "x", "scopes": ["secrets:read"]}"#, "credential_ids"),
        (#"{"name": "x", "scopes": ["admin"], "credential_ids": ["cred_0000000000000000000000000a"]}"#, "credential_ids"),
        (#"{"name": "x", "scopes": ["jobs:read"], "credential_ids": ["nope"]}"#, "credential_ids[0]"),
        (#"{"name": "x", "scopes": ["jobs:read"], "expires_at": "2001-01-01T00:00:00Z"}"#, "expires_at"),
        (#"{"name": "x", "scopes": ["jobs:read"], "expires_at": "tomorrow"}"#, "expires_at"),
    ])
    func rejects(body: String, field: String) async throws {
        try await APIHarness.run { api in
            let reply = try await api.send(.POST, "/v1/tokens", body: body)
            #expect(reply.status == .unprocessableEntity, "\(reply)")
            #expect(reply.fields.contains(field), "\(reply)")
        }
    }

    @Test("a revoked token is 401 on the very next request; an expired one is 401")
    func revokedAndExpired() async throws {
        let clock = ManualClock()
        try await APIHarness.run(clock: clock) { api in
            let (id, token) = try await Self.createToken(api, scopes: [.credentialsRead])
            #expect(try await api.send(.GET, "/v1/credentials", token: token).status == .ok)
            #expect(try await api.send(.DELETE, "/v1/tokens/\(id)").status == .noContent)
            let revoked = try await api.send(.GET, "/v1/credentials", token: token)
            #expect(revoked.status == .unauthorized)
            #expect(revoked.code == "unauthorized")
            #expect(revoked.headers.first(name: "WWW-Authenticate")?.hasPrefix("Bearer") == true)
            #expect(try await api.send(.GET, "/v1/tokens/\(id)").status == .notFound)
            #expect(try await api.send(.DELETE, "/v1/tokens/\(id)").status == .notFound)

            let expiresAt = clock.now().addingTimeInterval(60).formatted(.iso8601)
            let (_, expiring) = try await Self.createToken(api, scopes: [.credentialsRead], expiresAt: expiresAt)
            #expect(try await api.send(.GET, "/v1/whoami", token: expiring).status == .ok)
            clock.advance(by: 61)
            #expect(try await api.send(.GET, "/v1/whoami", token: expiring).status == .unauthorized)
            #expect(try await api.send(.GET, "/v1/whoami", token: "rtr_never_issued_0123456789").status == .unauthorized)
        }
    }

    @Test("a token bound to one credential sees and changes only that one (404 for the others)")
    func boundToCredentials() async throws {
        try await APIHarness.run { api in
            let mine = try await TriggerRoutesTests.registerCredential(api, name: "mine")
            let other = try await TriggerRoutesTests.registerCredential(api, name: "other")
            let (_, token) = try await Self.createToken(
                api, scopes: [.credentialsRead, .credentialsWrite, .jobsRead, .jobsWrite], credentialIDs: [mine])
            #expect(try await api.send(.GET, "/v1/credentials/\(mine)", token: token).status == .ok)
            #expect(try await api.send(.GET, "/v1/credentials/\(other)", token: token).status == .notFound)
            #expect(try await api.send(.PATCH, "/v1/credentials/\(other)", json: ["labels": ["a": "b"]], token: token).status == .notFound)
            #expect(try await api.send(.DELETE, "/v1/credentials/\(other)", token: token).status == .notFound)
            let list = try await api.send(.GET, "/v1/credentials", token: token)
            #expect(list.body.contains(mine) && !list.body.contains(other))
            let create = try await api.send(.POST, "/v1/credentials", json: ["name": "new"], token: token)
            #expect(create.status == .forbidden)

            let otherJob = try await api.send(.POST, "/v1/jobs", json: ["credential_id": other])
            let otherJobID = try #require(otherJob["id"])
            let refused = try await api.send(.POST, "/v1/jobs", json: ["credential_id": other], token: token)
            #expect(refused.status == .unprocessableEntity && refused.fields == ["credential_id"], "\(refused)")
            #expect(try await api.send(.GET, "/v1/jobs/\(otherJobID)", token: token).status == .notFound)
            #expect(try await api.send(.GET, "/v1/jobs/\(otherJobID)/events", token: token).status == .notFound)
            #expect(try await api.send(.POST, "/v1/jobs/\(otherJobID)/cancel", token: token).status == .notFound)
            let jobs = try await api.send(.GET, "/v1/jobs", token: token)
            #expect(jobs.status == .ok && !jobs.body.contains(otherJobID))
            let mineJob = try await api.send(.POST, "/v1/jobs", json: ["credential_id": mine], token: token)
            #expect(mineJob.status == .accepted)
        }
    }

    @Test("secret pull: only secrets:read bound to that credential, no-store, every read audited")
    func secretPull() async throws {
        try await APIHarness.run { api in
            let mine = try await TriggerRoutesTests.registerCredential(api, name: "mine")
            let other = try await TriggerRoutesTests.registerCredential(api, name: "other")
            let key = try await api.store.credentialSecrets(try #require(CredentialID(mine))).current.reveal()
            let (reader, token) = try await Self.createToken(api, scopes: [.secretsRead], credentialIDs: [mine])

            let read = try await api.send(.GET, "/v1/credentials/\(mine)/secret", token: token)
            #expect(read.status == .ok)
            #expect(read["secret"] == key)
            #expect(read.object["version"] as? Int == 1)
            #expect(read.headers.first(name: "Cache-Control") == "no-store")

            let denied = try await api.send(.GET, "/v1/credentials/\(other)/secret", token: token)
            #expect(denied.status == .notFound)
            #expect(!denied.body.contains("secret\""))
            let admin = try await api.send(.GET, "/v1/credentials/\(mine)/secret")
            #expect(admin.status == .forbidden)
            let (_, metadataOnly) = try await Self.createToken(api, scopes: [.credentialsRead], credentialIDs: [mine])
            #expect(try await api.send(.GET, "/v1/credentials/\(mine)/secret", token: metadataOnly).status == .forbidden)
            // The credential-metadata routes are not opened by secrets:read.
            #expect(try await api.send(.GET, "/v1/credentials/\(mine)", token: token).status == .forbidden)

            let audit = try await api.send(.GET, "/v1/audit?limit=200")
            let entries = try #require(audit.object["data"] as? [[String: Any]])
            let reads = entries.filter { $0["action"] as? String == "secret.read" }
            #expect(reads.map { $0["outcome"] as? String } == ["success", "denied"])
            #expect(reads.map { $0["resource"] as? String } == [mine, other])
            #expect(reads.allSatisfy { $0["actor"] as? String == reader })
            #expect(!audit.body.contains(key))
            #expect(!audit.body.contains(token))
        }
    }

    @Test("the audit log records writes in order with their actor, pages, and its chain verifies")
    func auditLog() async throws {
        try await APIHarness.run { api in
            let credential = try await TriggerRoutesTests.registerCredential(api)
            #expect(try await api.send(.PATCH, "/v1/credentials/\(credential)", json: ["labels": ["team": "a"]]).status == .ok)
            let (tokenID, token) = try await Self.createToken(api, scopes: [.jobsWrite])
            let job = try await api.send(.POST, "/v1/jobs", json: ["credential_id": credential], token: token)
            let jobID = try #require(job["id"])
            #expect(try await api.send(.POST, "/v1/jobs/\(jobID)/cancel", token: token).status == .accepted)
            let subscription = try await api.send(.POST, "/v1/subscriptions", json: ["url": "https://example.com/hook", "events": ["job.succeeded"]])
            let subscriptionID = try #require(subscription["id"])
            #expect(try await api.send(.DELETE, "/v1/subscriptions/\(subscriptionID)").status == .noContent)
            // A refused write leaves no entry.
            #expect(try await api.send(.DELETE, "/v1/subscriptions/\(subscriptionID)").status == .notFound)

            var entries: [[String: Any]] = []
            var cursor: String?
            repeat {
                let page = try await api.send(.GET, "/v1/audit?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(page.status == .ok)
                entries += try #require(page.object["data"] as? [[String: Any]])
                cursor = page.object["next_cursor"] as? String
            } while cursor != nil
            let actions = entries.map { $0["action"] as? String ?? "" }
            #expect(actions == [
                "credential.create", "credential.update", "token.create", "job.create", "job.cancel", "job.cancelled",
                "subscription.create", "subscription.delete",
            ], "\(actions)")
            #expect(entries.map { $0["seq"] as? Int } == Array(1...8).map { $0 })
            #expect(entries[3]["actor"] as? String == tokenID && entries[3]["resource"] as? String == jobID)
            #expect(entries[5]["actor"] as? String == tokenID && entries[5]["resource"] as? String == jobID)
            #expect(entries[0]["actor"] as? String == "admin" && entries[0]["outcome"] as? String == "success")
            #expect(entries.allSatisfy { ($0["hash"] as? String)?.count == 64 && $0["at"] is String })

            let audit = api.store
            #expect(try await audit.verifyAuditChain() == .intact(count: 8))
            let bad = try await api.send(.GET, "/v1/audit?cursor=nonsense")
            #expect(bad.status == .unprocessableEntity)
        }
    }
}
