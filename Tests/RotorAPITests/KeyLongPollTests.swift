import FakeVultr
import Foundation
import NIOHTTP1
import RotorCore
import Testing

/// The key long-polls (`GET …/secret?after_version=&wait=`, `GET …/agent/key?known_version=&wait=`)
/// over a real socket, with the engine rotating at the fake Vultr: they answer when a rotation
/// makes a new key available, `204` when the wait ends with nothing new, and refuse bad queries.
@Suite(.timeLimit(.minutes(2))) struct KeyLongPollTests {
    private static func token(_ rotor: LiveRotor, scope: TokenScope, credential: String) async throws -> [(String, String)] {
        let created = try await rotor.api(
            .POST, "/v1/tokens", json: #"{"name":"poll","scopes":["\#(scope.rawValue)"],"credential_ids":["\#(credential)"]}"#)
        try #require(created.status == .created, "\(created)")
        return [("Authorization", "Bearer \(try #require(created.object["token"] as? String))")]
    }

    private static func startJob(_ rotor: LiveRotor, _ credential: String) async throws -> String {
        let job = try await rotor.api(.POST, "/v1/jobs", json: #"{"credential_id":"\#(credential)"}"#)
        try #require(job.status == .accepted, "\(job)")
        return try #require(job.object["id"] as? String)
    }

    @Test("GET /secret?after_version= answers 204 while nothing newer is current, and the new version as soon as a rotation makes it current")
    func secretLongPoll() async throws {
        try await LiveRotor.run { rotor in
            let id = rotor.credential.id.rawValue
            let auth = try await Self.token(rotor, scope: .secretsRead, credential: id)
            let path = "/v1/credentials/\(id)/secret"

            #expect(try await rotor.send(.GET, path + "?after_version=1", headers: auth).status == .noContent)
            let older = try await rotor.send(.GET, path + "?after_version=0", headers: auth)
            #expect(older.status == .ok)
            #expect(older.object["version"] as? Int == 1)
            let started = ContinuousClock.now
            #expect(try await rotor.send(.GET, path + "?after_version=1&wait=PT1S", headers: auth).status == .noContent)
            #expect(ContinuousClock.now - started >= .milliseconds(900), "the wait ended early")

            for bad in ["?after_version=-1", "?after_version=x", "?wait=PT5S", "?after_version=1&wait=PT61S", "?after_version=1&wait=soon"] {
                let reply = try await rotor.send(.GET, path + bad, headers: auth)
                #expect(reply.status == .unprocessableEntity, "\(bad): \(reply)")
                #expect(reply.headers.first(name: "Content-Type") == "application/problem+json")
            }

            let poll = Task { try await rotor.send(.GET, path + "?after_version=1&wait=PT30S", headers: auth) }
            try await Task.sleep(for: .milliseconds(200))
            let job = try await Self.startJob(rotor, id)
            let answer = try await poll.value
            let finished = try await rotor.finished(job)
            #expect(finished["state"] as? String == "succeeded")
            #expect(answer.status == .ok, "\(answer)")
            #expect(answer.object["version"] as? Int == 2)
            let current = try await rotor.store.credentialSecrets(rotor.credential.id).current.reveal()
            #expect(answer.object["secret"] as? String == current)
            #expect(answer.headers.first(name: "Cache-Control") == "no-store")
        }
    }

    @Test("GET /agent/key?known_version= answers when the pending key is offered, again when it becomes current, and 204 at the end of a wait with nothing new")
    func agentKeyLongPoll() async throws {
        try await LiveRotor.run { rotor in
            let (_, key) = rotor.fake.addUser()
            let created = try await rotor.api(
                .POST, "/v1/credentials",
                json: #"{"name":"agent-poll","provider":"vultr","secret":"\#(key)","targets":[{"type":"agent","group":"web"}]}"#)
            try #require(created.status == .created, "\(created)")
            let id = try #require(created.object["id"] as? String)
            let auth = try await Self.token(rotor, scope: .agent, credential: id)
            let path = "/v1/credentials/\(id)/agent/key?instance=web-1&group=web"

            let first = try await rotor.send(.GET, path, headers: auth)
            #expect(first.object["version"] as? Int == 1)
            #expect(first.object["status"] as? String == "current")
            #expect(try await rotor.send(.GET, path + "&known_version=1&known_status=current", headers: auth).status == .noContent)

            for bad in ["&known_version=0", "&known_status=current", "&known_version=1&known_status=old", "&wait=PT5S", "&version=1&known_version=1"] {
                let reply = try await rotor.send(.GET, path + bad, headers: auth)
                #expect(reply.status == .unprocessableEntity, "\(bad): \(reply)")
            }

            let offered = Task { try await rotor.send(.GET, path + "&known_version=1&known_status=current&wait=PT30S", headers: auth) }
            try await Task.sleep(for: .milliseconds(200))
            let job = try await Self.startJob(rotor, id)
            let pending = try await offered.value
            #expect(pending.status == .ok, "\(pending)")
            #expect(pending.object["version"] as? Int == 2)
            #expect(pending.object["status"] as? String == "pending")

            // Told once the rotation is over and the key it applied is the current one.
            let settled = Task { try await rotor.send(.GET, path + "&known_version=2&known_status=pending&wait=PT30S", headers: auth) }
            let ack = try await rotor.send(
                .POST, "/v1/credentials/\(id)/agent/acks", body: Array(#"{"instance":"web-1","group":"web","version":2,"outcome":"applied"}"#.utf8),
                headers: auth + [("Content-Type", "application/json")])
            #expect(ack.status == .ok, "\(ack)")
            let current = try await settled.value
            #expect(current.object["version"] as? Int == 2)
            #expect(current.object["status"] as? String == "current")
            #expect(try await rotor.finished(job)["state"] as? String == "succeeded")

            let started = ContinuousClock.now
            let idle = try await rotor.send(.GET, path + "&known_version=2&known_status=current&wait=PT1S", headers: auth)
            #expect(idle.status == .noContent)
            #expect(ContinuousClock.now - started >= .milliseconds(900))
        }
    }

    @Test("an agent's long-poll naming its instance is held at most half the liveness window, so the instance never looks silent while it waits")
    func heldWithinLiveness() async throws {
        try await LiveRotor.run(agentLiveness: 4) { rotor in
            let (_, key) = rotor.fake.addUser()
            let created = try await rotor.api(
                .POST, "/v1/credentials", json: #"{"name":"agent-live","provider":"vultr","secret":"\#(key)","targets":[{"type":"agent","group":"web"}]}"#)
            let id = try #require(created.object["id"] as? String, "\(created)")
            let auth = try await Self.token(rotor, scope: .agent, credential: id)
            let started = ContinuousClock.now
            let wallStart = Date()
            let named = try await rotor.send(
                .GET, "/v1/credentials/\(id)/agent/key?instance=web-1&group=web&known_version=1&known_status=current&wait=PT30S", headers: auth)
            let held = ContinuousClock.now - started
            #expect(named.status == .noContent)
            #expect(held >= .milliseconds(1_900) && held < .seconds(4), "held \(held) with a 4 s liveness window")
            // Heard from again as it was answered: still live, and seen no earlier than the answer.
            let instances = try await rotor.api(.GET, "/v1/credentials/\(id)/agent/instances")
            #expect(instances.body.contains(#""live":true"#), "\(instances.body)")
            let seen = try #require((instances.object["data"] as? [[String: Any]])?.first?["last_seen_at"] as? String, "\(instances.body)")
            let answeredAt = try #require(try? Date(seen, strategy: .iso8601))
            #expect(answeredAt.timeIntervalSince(wallStart) >= 1, "last seen \(seen), poll started \(wallStart)")
        }
    }
}
