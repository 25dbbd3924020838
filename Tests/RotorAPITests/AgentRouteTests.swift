import FakeVultr
import Foundation
import NIOHTTP1
import RotorCore
import Testing

/// The agent routes (docs/agents.md) answer bad input with problem+json and change nothing, and
/// an agent token reaches only the credentials it is bound to.
@Suite(.timeLimit(.minutes(1))) struct AgentRouteTests {
    /// A credential with an agent target of group `web`; returns its id.
    private static func agentCredential(_ api: APIHarness, name: String) async throws -> String {
        let (_, key) = api.fake.addUser()
        let created = try await api.send(
            .POST, "/v1/credentials",
            json: ["name": name, "provider": "vultr", "secret": key, "targets": [["type": "agent", "group": "web"]]])
        try #require(created.status == .created, "\(created)")
        return try #require(created["id"])
    }

    @Test("an agent token bound to one credential can neither read nor acknowledge another's key; its own it can")
    func boundToItsCredential() async throws {
        try await APIHarness.run { api in
            let mine = try await Self.agentCredential(api, name: "mine")
            let other = try await Self.agentCredential(api, name: "other")
            let (_, agent) = try await TokenTests.createToken(api, scopes: [.agent], credentialIDs: [mine])

            let own = try await api.send(.GET, "/v1/credentials/\(mine)/agent/key?instance=web-1&group=web", token: agent)
            #expect(own.status == .ok, "\(own)")
            #expect(own.body.contains(#""version":1"#))

            let read = try await api.send(.GET, "/v1/credentials/\(other)/agent/key", token: agent)
            #expect(read.status == .notFound)
            #expect(read.headers.first(name: "Content-Type") == "application/problem+json")
            #expect(!read.body.contains("secret\":"), "\(read)")

            let ack: [String: Any] = ["instance": "web-1", "group": "web", "version": 1, "outcome": "applied"]
            let foreign = try await api.send(.POST, "/v1/credentials/\(other)/agent/acks", json: ack, token: agent)
            #expect(foreign.status == .notFound || foreign.status == .forbidden, "\(foreign)")
            let instances = try await api.send(.GET, "/v1/credentials/\(other)/agent/instances")
            #expect(instances.status == .ok)
            #expect(instances.body.contains(#""data":[]"#), "the foreign acknowledgement left a trace: \(instances)")

            let accepted = try await api.send(.POST, "/v1/credentials/\(mine)/agent/acks", json: ack, token: agent)
            #expect(accepted.status.code < 300, "\(accepted)")
        }
    }

    @Test("malformed, unknown-version, wrong-group and replayed acknowledgements answer problem+json and change nothing")
    func badAcknowledgements() async throws {
        try await APIHarness.run { api in
            let credential = try await Self.agentCredential(api, name: "acks")
            let (_, agent) = try await TokenTests.createToken(api, scopes: [.agent], credentialIDs: [credential])
            let path = "/v1/credentials/\(credential)/agent/acks"
            func instances() async throws -> String { try await api.send(.GET, "/v1/credentials/\(credential)/agent/instances").body }
            /// The listing as a value (its members' order is not fixed).
            func parsed(_ text: String) throws -> NSDictionary {
                try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary)
            }

            let malformed = try await api.send(.POST, path, body: "{not json", token: agent)
            #expect(malformed.status.code == 400 || malformed.status.code == 422, "\(malformed)")
            #expect(malformed.headers.first(name: "Content-Type") == "application/problem+json")
            let missing = try await api.send(.POST, path, json: ["instance": "web-1"], token: agent)
            #expect(missing.status.code == 422, "\(missing)")
            for field in ["group", "version", "outcome"] { #expect(missing.body.contains(field), "\(field) not named: \(missing)") }
            let badOutcome = try await api.send(
                .POST, path, json: ["instance": "web-1", "group": "web", "version": 1, "outcome": "maybe"], token: agent)
            #expect(badOutcome.status.code == 422)
            #expect(try await instances().contains(#""data":[]"#), "a refused acknowledgement recorded an instance")

            let unknown = try await api.send(
                .POST, path, json: ["instance": "web-1", "group": "web", "version": 9, "outcome": "applied"], token: agent)
            #expect(unknown.status == .conflict, "\(unknown)")
            #expect(unknown.code == "unknown_version")
            let otherGroup = try await api.send(
                .POST, path, json: ["instance": "web-1", "group": "api", "version": 1, "outcome": "applied"], token: agent)
            #expect(otherGroup.status.code == 422 || otherGroup.status == .conflict, "\(otherGroup)")
            #expect(try await instances().contains(#""data":[]"#))

            let ack: [String: Any] = ["instance": "web-1", "group": "web", "version": 1, "outcome": "applied"]
            let first = try await api.send(.POST, path, json: ack, token: agent)
            #expect(first.status.code < 300, "\(first)")
            let recorded = try await instances()
            let replay = try await api.send(.POST, path, json: ack, token: agent)
            #expect(replay.status == .conflict, "\(replay)")
            #expect(replay.code == "acknowledgement_replayed")
            let after = try await instances()
            #expect(try parsed(after) == parsed(recorded), "the replay changed the instance: \(recorded) → \(after)")
        }
    }
}
