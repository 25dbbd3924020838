import FakeVultr
import Foundation
import NIOHTTP1
import RotorCore
import RotorCrypto
import RotorSQLite
import Synchronization
import Testing

/// A clock the test moves by hand.
final class ManualClock: RotorClock {
    private let current: Mutex<Date>

    init(_ start: Date = Date()) { self.current = Mutex(start) }

    func now() -> Date { self.current.withLock { $0 } }
    func advance(by seconds: TimeInterval) { self.current.withLock { $0 = $0.addingTimeInterval(seconds) } }
    func sleep(until deadline: Date) async throws { try await Task.sleep(for: .milliseconds(1)) }
}

/// `/v1/triggers` in-process over a real SQLite store.
@Suite(.timeLimit(.minutes(1))) struct TriggerRoutesTests {
    /// A credential registered through the API on a fake user's key; its id.
    static func registerCredential(_ api: APIHarness, name: String = "trg-test") async throws -> String {
        let (_, key) = api.fake.addUser()
        let created = try await api.send(.POST, "/v1/credentials", json: ["name": name, "provider": "vultr", "secret": key, "targets": [Any]()])
        try #require(created.status == .created, "\(created)")
        return try #require(created["id"])
    }

    @Test("create shows the secret once; get and list never do; delete removes it (then 404)")
    func lifecycle() async throws {
        try await APIHarness.run { api in
            let credential = try await Self.registerCredential(api)
            let created = try await api.send(.POST, "/v1/triggers", json: ["credential_ids": [credential], "description": "deploys"])
            #expect(created.status == .created)
            let id = try #require(created["id"])
            #expect(id.hasPrefix("trg_"))
            #expect(created.location == "/v1/triggers/\(id)")
            #expect(created["url"] == "/v1/hooks/\(id)")
            #expect(created["scheme"] == "standard-webhooks")
            #expect(created.object["credential_ids"] as? [String] == [credential])
            let secret = try #require(created["secret"])
            #expect((try? WebhookSecret(encoded: secret)) != nil)

            let fetched = try await api.send(.GET, "/v1/triggers/\(id)")
            #expect(fetched.status == .ok)
            #expect(fetched.object["secret"] == nil)
            #expect(fetched["description"] == "deploys")
            #expect(!fetched.body.contains(secret))
            let list = try await api.send(.GET, "/v1/triggers")
            #expect((list.object["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [id])
            #expect(!list.body.contains(secret))

            let github = try await api.send(.POST, "/v1/triggers", json: ["scheme": "github", "credential_ids": [credential]])
            #expect(github["scheme"] == "github")
            let githubSecret = try #require(github["secret"])
            for reply in [try await api.send(.GET, "/v1/triggers?limit=1")] {
                #expect((reply.object["data"] as? [Any])?.count == 1)
                #expect(reply.object["next_cursor"] is String)
            }

            #expect((try await api.send(.DELETE, "/v1/triggers/\(id)")).status == .noContent)
            #expect((try await api.send(.GET, "/v1/triggers/\(id)")).status == .notFound)
            #expect((try await api.send(.DELETE, "/v1/triggers/\(id)")).status == .notFound)
            // A deleted trigger's hook is refused as any unknown trigger is: like a bad signature.
            let hook = try await api.send(.POST, "/v1/hooks/\(id)", body: "{}", token: nil)
            #expect(hook.status == .unauthorized)
            #expect(githubSecret.count == 64)
        }
    }

    @Test("bad trigger bodies are 422 naming each field, and create nothing", arguments: [
        (#"{}"#, ["credential_ids"]),
        (#"{"credential_ids":[]}"#, ["credential_ids"]),
        (#"{"credential_ids":["nope"]}"#, ["credential_ids[0]"]),
        (#"{"credential_ids":["cred_00000000000000000000000000"]}"#, ["credential_ids[0]"]),
        (#"{"credential_ids":["CRED","CRED"]}"#, ["credential_ids[1]"]),
        (#"{"credential_ids":["CRED"],"scheme":"hmac"}"#, ["scheme"]),
    ])
    func badBodies(body: String, fields: [String]) async throws {
        try await APIHarness.run { api in
            let credential = try await Self.registerCredential(api)
            let reply = try await api.send(.POST, "/v1/triggers", body: body.replacingOccurrences(of: "CRED", with: credential))
            #expect(reply.status == .unprocessableEntity, "\(reply)")
            #expect(reply.code == "invalid_request")
            #expect(reply.fields == fields)
            #expect((try await api.send(.GET, "/v1/triggers")).object["data"] as? [Any] != nil)
            #expect(((try await api.send(.GET, "/v1/triggers")).object["data"] as? [Any])?.isEmpty == true)
        }
    }

    @Test("roll-secret: both secrets verify during the overlap, only the new one after it; a bad overlap is 422")
    func rollSecret() async throws {
        let clock = ManualClock()
        try await APIHarness.run(clock: clock) { api in
            let credential = try await Self.registerCredential(api)
            let created = try await api.send(.POST, "/v1/triggers", json: ["credential_ids": [credential]])
            let id = try #require(created["id"])
            let old = try #require(created["secret"])

            #expect((try await api.send(.POST, "/v1/triggers/\(id)/roll-secret", json: ["overlap": "P1M"])).status == .unprocessableEntity)
            #expect((try await api.send(.POST, "/v1/triggers/\(id)/roll-secret", json: ["overlap": "P8D"])).status == .unprocessableEntity)
            #expect((try await api.send(.POST, "/v1/triggers/trg_00000000000000000000000000/roll-secret")).status == .notFound)

            let rolled = try await api.send(.POST, "/v1/triggers/\(id)/roll-secret", json: ["overlap": "PT1H"])
            #expect(rolled.status == .ok, "\(rolled)")
            let new = try #require(rolled["secret"])
            #expect(new != old)
            #expect(rolled["previous_secret_expires_at"] != nil)

            func hook(_ secret: String) async throws -> HTTPResponseStatus {
                let body = #"{"n":1}"#
                let deliveryID = UUID().uuidString
                let timestamp = Int(clock.now().timeIntervalSince1970)
                let signature = StandardWebhooks.sign(id: deliveryID, timestamp: timestamp, body: Array(body.utf8), secret: try WebhookSecret(encoded: secret))
                return try await api.send(
                    .POST, "/v1/hooks/\(id)", body: body,
                    headers: ["webhook-id": deliveryID, "webhook-timestamp": String(timestamp), "webhook-signature": signature], token: nil
                ).status
            }
            #expect(try await hook(old) == .accepted)
            #expect(try await hook(new) == .accepted)
            clock.advance(by: 3601)
            #expect(try await hook(old) == .unauthorized)
            #expect(try await hook(new) == .accepted)

            // The default overlap is a day; a roll with no body uses it.
            let again = try await api.send(.POST, "/v1/triggers/\(id)/roll-secret")
            #expect(again.status == .ok)
            #expect(try await hook(new) == .accepted)
            #expect(try await hook(try #require(again["secret"])) == .accepted)
            clock.advance(by: 86_401)
            #expect(try await hook(new) == .unauthorized)
        }
    }
}
