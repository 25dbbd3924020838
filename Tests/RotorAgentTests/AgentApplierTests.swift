import Foundation
import Logging
@testable import RotorAgent
import Testing

/// What the agent does with a key it was served: files, template, reload, check, state.
@Suite(.timeLimit(.minutes(1))) struct AgentApplierTests {
    static let web = "cred_0000000000000000000000000a"
    static let db = "cred_0000000000000000000000000b"

    struct Setup {
        let directory: String
        let applier: AgentApplier
        let web: AgentConfiguration.Credential
        let db: AgentConfiguration.Credential
        var reloads: Int { ((try? String(contentsOfFile: self.directory + "/reloads", encoding: .utf8)) ?? "").count(where: { $0 == "\n" }) }
        var state: AgentState { (try? AgentState.load(self.directory + "/state.json")) ?? AgentState() }
    }

    static func setUp(check: String) throws -> Setup {
        let directory = try AtomicFileTests.directory()
        let web = AgentConfiguration.Credential(id: Self.web, name: "web", group: "web", file: .init(path: directory + "/web.key", mode: 0o600, owner: nil))
        let db = AgentConfiguration.Credential(id: Self.db, name: "db", group: "web", file: nil)
        let configuration = AgentConfiguration(
            url: URL(string: "http://127.0.0.1:1")!, token: AgentToken("rtr_x"), instance: "i", credentials: [web, db],
            template: .init(
                source: "", template: try KeyTemplate(parsing: "WEB={{credential.web}}\nDB={{credential.db}}\n"),
                output: .init(path: directory + "/app.env", mode: 0o640, owner: nil)),
            reload: "echo \"$ROTOR_CREDENTIAL_ID $ROTOR_KEY_VERSION\" >> \(directory)/reloads", check: check, stateFile: directory + "/state.json")
        return Setup(directory: directory, applier: AgentApplier(configuration: configuration, logger: Logger(label: "test")), web: web, db: db)
    }

    static func key(_ secret: String, _ version: Int, _ status: String = "current") -> AgentKey {
        AgentKey(secret: secret, version: version, status: status, fingerprint: "fp-\(version)")
    }

    @Test("a new key is written with the template, reloaded once and checked; served again at start-up it is only checked")
    func writeReloadCheck() async throws {
        let setup = try Self.setUp(check: #"test "$(cat "$ROTOR_KEY_FILE")" = web-1"#)
        await setup.applier.learn([(setup.web, Self.key("web-1", 1)), (setup.db, Self.key("db-1", 4))])
        let first = await setup.applier.apply(setup.web, Self.key("web-1", 1), previous: nil)
        #expect(first.acknowledgement?.applied == true, "\(String(describing: first.acknowledgement))")
        #expect(try String(contentsOfFile: setup.directory + "/web.key", encoding: .utf8) == "web-1")
        #expect(try String(contentsOfFile: setup.directory + "/app.env", encoding: .utf8) == "WEB=web-1\nDB=db-1\n")
        #expect(try AtomicFileTests.mode(setup.directory + "/app.env") == 0o640)
        #expect(setup.reloads == 1)
        #expect(setup.state.entries[Self.web]?.version == 1)

        // A restart: the same key is already there; no rewrite, no reload, but a check to acknowledge.
        let again = await setup.applier.apply(setup.web, Self.key("web-1", 1), previous: nil)
        #expect(again.acknowledgement?.applied == true)
        #expect(setup.reloads == 1)
    }

    @Test("only the status changing (pending to current) records it and neither reloads nor acknowledges")
    func statusOnly() async throws {
        let setup = try Self.setUp(check: "true")
        await setup.applier.learn([(setup.db, Self.key("db-1", 4))])
        _ = await setup.applier.apply(setup.web, Self.key("web-2", 2, "pending"), previous: (1, "current"))
        #expect(setup.reloads == 1)
        #expect(setup.state.entries[Self.web]?.status == "pending")
        let finished = await setup.applier.apply(setup.web, Self.key("web-2", 2, "current"), previous: (2, "pending"))
        #expect(finished.acknowledgement == nil)
        #expect(setup.reloads == 1)
        #expect(setup.state.entries[Self.web]?.status == "current")
        // A rollback serves the old version again: written back, reloaded, checked, acknowledged.
        let back = await setup.applier.apply(setup.web, Self.key("web-1", 1), previous: (2, "pending"))
        #expect(back.acknowledgement?.applied == true)
        #expect(setup.reloads == 2)
        #expect(try String(contentsOfFile: setup.directory + "/web.key", encoding: .utf8) == "web-1")
        #expect(try String(contentsOfFile: setup.directory + "/app.env", encoding: .utf8) == "WEB=web-1\nDB=db-1\n")
    }

    @Test("a failing check is acknowledged as failed with its exit status and first error line, without the key")
    func failingCheck() async throws {
        let setup = try Self.setUp(check: #"echo "rejected $(cat "$ROTOR_KEY_FILE")" >&2; exit 4"#)
        await setup.applier.learn([(setup.db, Self.key("db-1", 4))])
        let outcome = await setup.applier.apply(setup.web, Self.key("web-secret-value", 3, "pending"), previous: (2, "current"))
        let acknowledgement = try #require(outcome.acknowledgement)
        #expect(!acknowledgement.applied)
        #expect(acknowledgement.message == "check exited 4: rejected [REDACTED]")
        #expect(setup.state.entries[Self.web]?.outcome == "failed")
    }
}
