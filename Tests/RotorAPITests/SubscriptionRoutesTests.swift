import Foundation
import NIOHTTP1
import RotorCore
import RotorCrypto
import RotorSQLite
import Testing

/// `/v1/subscriptions` in-process over a real SQLite store.
@Suite struct SubscriptionRoutesTests {
    @Test("create answers 201 with the secret once; get, list and delete never show it again")
    func lifecycle() async throws {
        try await APIHarness.run { api in
            let created = try await api.send(
                .POST, "/v1/subscriptions",
                json: ["url": "https://hooks.example/rotor", "events": ["job.failed", "job.started", "job.failed", "credential.expiring"]])
            #expect(created.status == .created, "\(created)")
            let id = try #require(created["id"])
            #expect(id.hasPrefix("sub_"))
            #expect(created.location == "/v1/subscriptions/\(id)")
            let secret = try #require(created["secret"])
            #expect(secret.hasPrefix("whsec_"))
            #expect((try? WebhookSecret(encoded: secret)) != nil)
            #expect(created.object["events"] as? [String] == ["job.started", "job.failed", "credential.expiring"])
            #expect(created["url"] == "https://hooks.example/rotor")
            #expect(created["created_at"] != nil)

            let fetched = try await api.send(.GET, "/v1/subscriptions/\(id)")
            #expect(fetched.status == .ok)
            #expect(fetched.object["secret"] == nil && !fetched.body.contains(secret))
            #expect(fetched["deliveries_url"] == "/v1/subscriptions/\(id)/deliveries")
            let list = try await api.send(.GET, "/v1/subscriptions?limit=10")
            #expect((list.object["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [id])
            #expect(list.object["next_cursor"] is NSNull)
            #expect(!list.body.contains(secret))
            let deliveries = try await api.send(.GET, "/v1/subscriptions/\(id)/deliveries")
            #expect(deliveries.status == .ok && (deliveries.object["data"] as? [Any])?.isEmpty == true)

            #expect(try await api.send(.DELETE, "/v1/subscriptions/\(id)").status == .noContent)
            #expect(try await api.send(.GET, "/v1/subscriptions/\(id)").status == .notFound)
            #expect(try await api.send(.DELETE, "/v1/subscriptions/\(id)").status == .notFound)
            #expect(try await api.send(.GET, "/v1/subscriptions/\(id)/deliveries").status == .notFound)
            #expect(try await api.send(.GET, "/v1/subscriptions/not-an-id").status == .notFound)
        }
    }

    @Test("bad bodies are 422 naming every field, and store nothing", arguments: [
        (#"{"url": "http://hooks.example/x", "events": ["job.started"]}"#, ["url"]),
        (#"{"url": "ftp://127.0.0.1/x", "events": ["job.started"]}"#, ["url"]),
        (#"{"url": "https://user:pw@hooks.example/x", "events": ["job.started"]}"#, ["url"]),
        (#"{"url": "https://hooks.example/x", "events": []}"#, ["events"]),
        (#"{"url": "https://hooks.example/x", "events": ["job.started", "key.pending", "job.exploded"]}"#, ["events[1]", "events[2]"]),
        (#"{}"#, ["url", "events"]),
        (#"{"url": 5, "events": ["job.started"]}"#, ["url"]),
    ])
    func validation(body: String, fields: [String]) async throws {
        try await APIHarness.run { api in
            let reply = try await api.send(.POST, "/v1/subscriptions", body: body)
            #expect(reply.status == .unprocessableEntity, "\(reply)")
            #expect(reply.code == "invalid_request")
            #expect(reply.fields == fields)
            let list = try await api.send(.GET, "/v1/subscriptions")
            #expect((list.object["data"] as? [Any])?.isEmpty == true)
        }
    }

    @Test("http is accepted for loopback subscribers; malformed JSON is 400 and a wrong media type 415")
    func loopbackAndMalformed() async throws {
        try await APIHarness.run { api in
            for url in ["http://localhost:9000/x", "http://127.0.0.1/x", "http://[::1]:8080/x"] {
                let reply = try await api.send(.POST, "/v1/subscriptions", json: ["url": url, "events": ["job.started"]])
                #expect(reply.status == .created, "\(url): \(reply)")
            }
            #expect(try await api.send(.POST, "/v1/subscriptions", body: "{").code == "invalid_json")
            #expect(try await api.send(.POST, "/v1/subscriptions", body: "url=x", contentType: "application/x-www-form-urlencoded").status == .unsupportedMediaType)
            #expect(try await api.send(.GET, "/v1/subscriptions", token: nil).status == .unauthorized)
            #expect(try await api.send(.GET, "/v1/subscriptions?limit=0").fields == ["limit"])
            #expect(try await api.send(.GET, "/v1/subscriptions?cursor=nonsense").fields == ["cursor"])
        }
    }

    @Test("subscriptions page in creation order")
    func paging() async throws {
        try await APIHarness.run { api in
            var ids: [String] = []
            for index in 0..<3 {
                ids.append(try #require(try await api.send(.POST, "/v1/subscriptions", json: ["url": "https://h.example/\(index)", "events": ["job.started"]])["id"]))
            }
            let first = try await api.send(.GET, "/v1/subscriptions?limit=2")
            let cursor = try #require(first.object["next_cursor"] as? String)
            let second = try await api.send(.GET, "/v1/subscriptions?limit=2&cursor=\(cursor)")
            let listed = ((first.object["data"] as? [[String: Any]] ?? []) + (second.object["data"] as? [[String: Any]] ?? [])).compactMap { $0["id"] as? String }
            #expect(listed == ids)
        }
    }

    @Test("cancelling a queued job through the API lists a pending job.cancelled delivery")
    func deliveriesListed() async throws {
        try await APIHarness.run { api in
            let subscription = try await api.send(.POST, "/v1/subscriptions", json: ["url": "https://hooks.example/x", "events": ["job.cancelled", "job.succeeded"]])
            let id = try #require(subscription["id"])
            let now = Date()
            let credential = Credential(
                id: .generate(), name: "subscribed", provider: .vultr,
                current: KeyInfo(providerKeyID: "k1", fingerprint: "sha256:000000000000", createdAt: now), createdAt: now, updatedAt: now)
            try await api.store.createCredential(credential, secrets: CredentialSecrets(current: Secret("key")))
            let job = try await api.send(.POST, "/v1/jobs", json: ["credential_id": credential.id.rawValue])
            let jobID = try #require(job["id"])
            #expect(try await api.send(.POST, "/v1/jobs/\(jobID)/cancel").status == .accepted)

            let deliveries = try await api.send(.GET, "/v1/subscriptions/\(id)/deliveries")
            let items = try #require(deliveries.object["data"] as? [[String: Any]])
            let item = try #require(items.first)
            #expect(items.count == 1)
            #expect(item["type"] as? String == "job.cancelled")
            #expect(item["state"] as? String == "pending")
            #expect(item["attempts"] as? Int == 0)
            #expect((item["event_id"] as? String)?.hasPrefix("evt_") == true)
            for key in ["last_status_code", "last_error", "last_attempt_at", "delivered_at"] {
                #expect(item[key] is NSNull, "\(key)")
            }
            #expect(item["next_attempt_at"] as? String != nil && item["created_at"] as? String != nil)
        }
    }
}
