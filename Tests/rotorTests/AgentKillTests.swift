import ChildProcess
import FakeVultr
import Foundation
import NIOHTTP1
import Testing

extension CrashTests {
    /// Issue 14: with `rotor agent` processes serving a credential, kill -9 of Rotor, and separately
    /// of an agent, while the new key is handed out (`distribute`) or checked (`verify`) converges:
    /// the job succeeds after the restart, every agent's file holds the new key, and the provider
    /// holds exactly that key (zero lost keys, zero orphans). An instance gone past the liveness
    /// window does not block a rotation.
    ///
    /// Nested in ``CrashTests``, so it is serialized with every other kill -9 case: several `rotor
    /// serve` processes with their agents at once would starve each other on 2 cores (the provider
    /// calls, given 2 s there, then time out).
    @Suite struct AgentKillTests {
        /// No create is cut off here, so provider calls get the default time rather than the
        /// other kill tests' 2 s, which a loaded machine can exceed when registering the key; and
        /// no rate limit, since the waits below ask Rotor every few milliseconds.
        static let environment = ["ROTOR_PROVIDER_TIMEOUT": "PT10S", "ROTOR_RATE_LIMIT_RPS": "0"]

        /// Agents of group `web` around a ``CrashScenario`` (the fake Vultr lives in the test, so it
        /// survives Rotor's kill; Rotor keeps its port, so the agents find it again).
        final class Agents: Sendable {
            let scenario: CrashScenario
            let credentialID: String
            let tokenFile: String
            let directory: String

            /// Registers the scenario's key with an agent target needing `minLive` instances, and
            /// a webhook target at the scenario's consumer too when asked.
            init(_ scenario: CrashScenario, minLive: Int, webhook: Bool = false) async throws {
                self.scenario = scenario
                self.directory = scenario.dataDirectory + "-agents"
                try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
                let hook = webhook ? #",{"type":"webhook","url":"\#(scenario.consumerURL)/hook"}"# : ""
                let credential = try await scenario.call(
                    .POST, "/v1/credentials",
                    #"{"name":"agents","provider":"vultr","secret":"\#(scenario.vultrKey)","targets":[{"type":"agent","group":"web","min_live":\#(minLive),"verify_timeout":"PT60S"}\#(hook)]}"#)
                self.credentialID = try #require(credential["id"] as? String, "\(credential)")
                let token = try await scenario.call(.POST, "/v1/tokens", #"{"name":"agents","scopes":["agent"],"credential_ids":["\#(self.credentialID)"]}"#)
                self.tokenFile = self.directory + "/token"
                try #require(FileManager.default.createFile(
                    atPath: self.tokenFile, contents: Data(try #require(token["token"] as? String).utf8), attributes: [.posixPermissions: 0o600]))
            }

            func keyFile(_ instance: String) -> String { self.directory + "/\(instance).key" }

            /// A check that authenticates at the fake Vultr with the key in the file (when curl is
            /// here; else that the file holds a key), after `delay` seconds.
            func check(delay: Int = 0) -> String {
                let pause = delay > 0 ? "sleep \(delay); " : ""
                if FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") {
                    return pause + #"curl -sf -o /dev/null -H "Authorization: Bearer $(cat "$ROTOR_KEY_FILE")" \#(self.scenario.vultrURL)/v2/account"#
                }
                return pause + #"test -s "$ROTOR_KEY_FILE""#
            }

            /// A `rotor agent` process for `instance` on the scenario's token, writing `file`
            /// (its own key file unless told), with `check` and `reload` if given; `--once`
            /// instead of a state file and long-polls when `once`.
            func start(
                _ instance: String, check: String? = nil, reload: String? = nil, file: String? = nil, credential: String? = nil,
                once: Bool = false
            ) throws -> RotorProcessTests.RunningRotor {
                var arguments = [
                    "agent", "--url", "http://127.0.0.1:\(self.scenario.port)", "--token-file", self.tokenFile, "--instance", instance,
                    "--group", "web", "--credential", credential ?? self.credentialID, "--file", file ?? self.keyFile(instance),
                ]
                if let check { arguments += ["--check", check] }
                if let reload { arguments += ["--reload", reload] }
                arguments += once
                    ? ["--once"]
                    : ["--state-file", self.directory + "/\(instance).state.json", "--command-timeout", "40s", "--poll-interval", "1s"]
                return try RotorProcessTests.RunningRotor(arguments: arguments, environment: [:])
            }

            /// `applied_version` per instance.
            func applied() async throws -> [String: Int] {
                let listing = try await self.scenario.call(.GET, "/v1/credentials/\(self.credentialID)/agent/instances")
                return Dictionary(uniqueKeysWithValues: ((listing["data"] as? [[String: Any]]) ?? []).compactMap { entry in
                    (entry["instance"] as? String).map { ($0, (entry["applied_version"] as? Int) ?? 0) }
                })
            }

            func file(_ instance: String) -> String? { try? String(contentsOfFile: self.keyFile(instance), encoding: .utf8) }

            /// The job's step, read from the running `rotor`.
            func step(_ jobID: String) async throws -> String? {
                try await self.scenario.call(.GET, "/v1/jobs/\(jobID)")["step"] as? String
            }

            /// After the job: it succeeded, the provider holds exactly its new key, and each of
            /// `instances` has that key in its file and acknowledged version 2.
            func expectConverged(_ jobID: String, _ instances: [String]) async throws {
                let newKeyID = try await self.scenario.expectSucceeded(jobID, self.credentialID)
                let newKey = try #require(self.scenario.fake.key(id: newKeyID))
                try await Poll.until("every agent's file holds the new key") {
                    instances.allSatisfy { self.file($0) == newKey.secret }
                }
                let applied = try await self.applied()
                for instance in instances { #expect(applied[instance] == 2, "\(applied)") }
            }

            /// SIGKILL, and wait until the process is gone.
            static func kill(_ agent: RotorProcessTests.RunningRotor) async throws {
                Foundation.kill(agent.process.processIdentifier, SIGKILL)
                _ = try await agent.exitStatus()
            }

            deinit { try? FileManager.default.removeItem(atPath: self.directory) }
        }

        @Test("kill -9 of Rotor while the agents check the pending key (verify): after a restart the job succeeds with both agents on the new key")
        func killRotorDuringVerify() async throws {
            try await CrashScenario.run(environment: Self.environment, keepPort: true) { scenario in
                let agents = try await Agents(scenario, minLive: 2)
                let a = try agents.start("a", check: agents.check(delay: 2))
                let b = try agents.start("b", check: agents.check(delay: 2))
                try await Poll.until("both agents applied version 1") { try await agents.applied() == ["a": 1, "b": 1] }
                let jobID = try await scenario.startJob(agents.credentialID)
                try await Poll.until("the agents were handed the pending key") { try await agents.step(jobID) == "verify" }
                try await Task.sleep(for: .milliseconds(500))
                try await scenario.kill()
                try await scenario.restart()
                try await agents.expectConverged(jobID, ["a", "b"])
                for agent in [a, b] { try await Self.stopped(agent) }
                try await scenario.finish()
            }
        }

        @Test("kill -9 of Rotor while distribute hands the pending key to a webhook target too: after a restart the job succeeds with both agents on the new key")
        func killRotorDuringDistribute() async throws {
            try await CrashScenario.run(environment: Self.environment, keepPort: true) { scenario in
                let agents = try await Agents(scenario, minLive: 2, webhook: true)
                let a = try agents.start("a", check: agents.check())
                let b = try agents.start("b", check: agents.check())
                try await Poll.until("both agents applied version 1") { try await agents.applied() == ["a": 1, "b": 1] }
                scenario.consumer.hold("key.pending")
                let jobID = try await scenario.startJob(agents.credentialID)
                try await Poll.until("the webhook target receives key.pending") { scenario.consumer.received("key.pending") > 0 }
                try await scenario.kill()
                scenario.consumer.hold(nil)
                try await scenario.restart()
                try await agents.expectConverged(jobID, ["a", "b"])
                for agent in [a, b] { try await Self.stopped(agent) }
                try await scenario.finish()
            }
        }

        @Test("kill -9 of an agent in the middle of its check (verify), then a restart of it: the job waits for it and succeeds")
        func killAgentDuringVerify() async throws {
            try await CrashScenario.run(environment: Self.environment, keepPort: true) { scenario in
                let agents = try await Agents(scenario, minLive: 2)
                let a = try agents.start("a", check: agents.check())
                // b's check is slow the first time the pending key comes: it is killed in it.
                let marker = agents.directory + "/b-checked-once"
                let slowOnce = #"if [ "$ROTOR_KEY_VERSION" = 2 ] && [ ! -e "\#(marker)" ]; then touch "\#(marker)"; sleep 20; fi; "# + agents.check()
                var b = try agents.start("b", check: slowOnce)
                try await Poll.until("both agents applied version 1") { try await agents.applied() == ["a": 1, "b": 1] }
                let jobID = try await scenario.startJob(agents.credentialID)
                try await Poll.until("b is checking the pending key") { FileManager.default.fileExists(atPath: marker) }
                try await Agents.kill(b)
                #expect(try await agents.step(jobID) == "verify", "the job must wait for b")
                b = try agents.start("b", check: slowOnce)
                try await agents.expectConverged(jobID, ["a", "b"])
                for agent in [a, b] { try await Self.stopped(agent) }
                try await scenario.finish()
            }
        }

        @Test("kill -9 of an agent as the pending key reaches it (distribute), before it acknowledges: restarted, it applies and acknowledges, and the job succeeds")
        func killAgentAsKeyArrives() async throws {
            try await CrashScenario.run(environment: Self.environment, keepPort: true) { scenario in
                let agents = try await Agents(scenario, minLive: 2)
                let a = try agents.start("a", check: agents.check())
                // b reloads its workload for 30 s the first time the pending key comes: it is killed then.
                let marker = agents.directory + "/b-reloading"
                var b = try agents.start(
                    "b", check: agents.check(),
                    reload: #"if [ "$ROTOR_KEY_VERSION" = 2 ] && [ ! -e "\#(marker)" ]; then touch "\#(marker)"; sleep 20; fi"#)
                try await Poll.until("both agents applied version 1") { try await agents.applied() == ["a": 1, "b": 1] }
                let jobID = try await scenario.startJob(agents.credentialID)
                try await Poll.until("b received the pending key") { FileManager.default.fileExists(atPath: marker) }
                try await Agents.kill(b)
                b = try agents.start("b", check: agents.check())
                try await agents.expectConverged(jobID, ["a", "b"])
                for agent in [a, b] { try await Self.stopped(agent) }
                try await scenario.finish()
            }
        }

        @Test("an instance killed and silent past the liveness window does not block the rotation")
        func silentInstanceDoesNotBlock() async throws {
            try await CrashScenario.run(environment: Self.environment.merging(["ROTOR_AGENT_LIVENESS": "PT3S"]) { $1 }, keepPort: true) { scenario in
                let agents = try await Agents(scenario, minLive: 2)
                let a = try agents.start("a", check: agents.check())
                let b = try agents.start("b", check: agents.check())
                let c = try agents.start("c", check: agents.check())
                try await Poll.until("three agents applied version 1") { try await agents.applied() == ["a": 1, "b": 1, "c": 1] }
                try await Agents.kill(c)
                try await Task.sleep(for: .seconds(4))
                let jobID = try await scenario.startJob(agents.credentialID)
                try await agents.expectConverged(jobID, ["a", "b"])
                #expect(try await agents.applied()["c"] == 1)
                for agent in [a, b] { try await Self.stopped(agent) }
                try await scenario.finish()
            }
        }

        @Test("a token bound to one credential can neither read nor acknowledge another's key, and rotor agent with it serves only its own")
        func tokenBoundToItsCredential() async throws {
            try await CrashScenario.run(environment: Self.environment, keepPort: true) { scenario in
                let agents = try await Agents(scenario, minLive: 1)
                let other = scenario.addAccount()
                let created = try await scenario.call(
                    .POST, "/v1/credentials",
                    #"{"name":"other","provider":"vultr","secret":"\#(other.apiKey)","targets":[{"type":"agent","group":"web"}]}"#)
                let otherID = try #require(created["id"] as? String, "\(created)")
                let token = try String(contentsOfFile: agents.tokenFile, encoding: .utf8)

                let (read, body) = try await RotorProcessTests.api(
                    port: scenario.port, token: token, .GET, "/v1/credentials/\(otherID)/agent/key?instance=x&group=web")
                #expect(read == .notFound)
                #expect(body["secret"] == nil)
                let (ack, _) = try await RotorProcessTests.api(
                    port: scenario.port, token: token, .POST, "/v1/credentials/\(otherID)/agent/acks",
                    #"{"instance":"x","group":"web","version":1,"outcome":"applied"}"#)
                #expect(ack == .notFound || ack == .forbidden, "\(ack)")
                let listing = try await scenario.call(.GET, "/v1/credentials/\(otherID)/agent/instances")
                #expect((listing["data"] as? [Any])?.isEmpty == true, "\(listing)")

                let refused = try agents.start("x", file: agents.directory + "/other.key", credential: otherID, once: true)
                #expect(try await refused.exitStatus() == 1)
                #expect(!FileManager.default.fileExists(atPath: agents.directory + "/other.key"))
                let served = try agents.start("x", once: true)
                #expect(try await served.exitStatus() == 0, "\(served.errors)")
                #expect(agents.file("x") == scenario.vultrKey)
                try await scenario.finish()
            }
        }

        /// SIGTERM ends an agent cleanly.
        static func stopped(_ agent: RotorProcessTests.RunningRotor) async throws {
            agent.process.terminate()
            #expect(try await agent.exitStatus() == 0, "\(agent.errors)")
        }
    }
}
