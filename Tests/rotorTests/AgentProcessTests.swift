import AsyncHTTPClient
import ChildProcess
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// `rotor agent` processes against `rotor serve --sandbox`: a rotation waits for the agents'
/// acknowledgements, and one failing check rolls it back with every key file restored.
@Suite(.timeLimit(.minutes(3)), .serialized) struct AgentProcessTests {
    /// A sandbox with a credential of agent group `web`, an agent token and a reader token bound to it.
    final class World: Sendable {
        let rotor: RotorProcessTests.RunningRotor
        let port: Int
        let adminToken: String
        let vultrURL: String
        let credentialID: String
        let readerToken: String
        let tokenFile: String
        let directory: String

        init() async throws {
            self.directory = NSTemporaryDirectory() + "rotor-agent-proc-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
            self.rotor = try RotorProcessTests.RunningRotor(
                arguments: ["serve", "--sandbox", "--listen", "127.0.0.1:0", "--data-dir", self.directory + "/data"],
                environment: ["ROTOR_RETRY_BASE": "PT0.05S"])
            self.port = try await self.rotor.port()
            self.adminToken = String(try #require(self.rotor.output.firstMatch(of: /admin token: (rtr_\S+)/)?.output.1))
            let key = String(try #require(self.rotor.output.firstMatch(of: /sandbox Vultr API key to register as a credential: (\S+)/)?.output.1))
            self.vultrURL = String(try #require(self.rotor.output.firstMatch(of: /a fake Vultr API runs at (\S+)/)?.output.1))
            let port = self.port
            let admin = self.adminToken
            func call(_ method: HTTPMethod, _ path: String, _ body: String) async throws -> [String: Any] {
                let (status, object) = try await RotorProcessTests.api(port: port, token: admin, method, path, body)
                try #require(status.code < 300, "\(method) \(path): \(status) \(object)")
                return object
            }
            let credential = try await call(
                .POST, "/v1/credentials",
                #"{"name":"web","provider":"vultr","secret":"\#(key)","targets":[{"type":"agent","group":"web","min_live":2,"verify_timeout":"PT40S"}]}"#)
            self.credentialID = try #require(credential["id"] as? String)
            let agent = try await call(.POST, "/v1/tokens", #"{"name":"agents","scopes":["agent"],"credential_ids":["\#(self.credentialID)"]}"#)
            let reader = try await call(.POST, "/v1/tokens", #"{"name":"reader","scopes":["secrets:read"],"credential_ids":["\#(self.credentialID)"]}"#)
            self.readerToken = try #require(reader["token"] as? String)
            self.tokenFile = self.directory + "/agent-token"
            try #require(FileManager.default.createFile(
                atPath: self.tokenFile, contents: Data(try #require(agent["token"] as? String).utf8), attributes: [.posixPermissions: 0o600]))
        }

        func call(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> [String: Any] {
            try await RotorProcessTests.api(port: self.port, token: self.adminToken, method, path, body).1
        }

        /// The credential's current key, read as a pull consumer would.
        func currentKey() async throws -> (secret: String, version: Int) {
            let (status, body) = try await RotorProcessTests.api(port: self.port, token: self.readerToken, .GET, "/v1/credentials/\(self.credentialID)/secret")
            try #require(status == .ok, "\(body)")
            return (try #require(body["secret"] as? String), try #require(body["version"] as? Int))
        }

        /// `applied_version` per instance.
        func appliedVersions() async throws -> [String: Int] {
            let listing = try await self.call(.GET, "/v1/credentials/\(self.credentialID)/agent/instances")
            let instances = (listing["data"] as? [[String: Any]]) ?? []
            return Dictionary(uniqueKeysWithValues: instances.compactMap { entry in
                (entry["instance"] as? String).map { ($0, (entry["applied_version"] as? Int) ?? 0) }
            })
        }

        func keyFile(_ instance: String) -> String { self.directory + "/\(instance).key" }

        /// `rotor_http_requests_parked` from `/metrics`: the long-polls the server holds.
        func parkedRequests() async throws -> Int {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(self.port)/metrics")
            request.method = .GET
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let text = String(buffer: try await response.body.collect(upTo: 16 << 20))
            let line = text.split(separator: "\n").first { $0.hasPrefix("rotor_http_requests_parked ") }
            return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? -1
        }

        /// A `rotor agent` for `instance` whose check is `check`.
        func agent(_ instance: String, check: String) throws -> RotorProcessTests.RunningRotor {
            try RotorProcessTests.RunningRotor(
                arguments: [
                    "agent", "--url", "http://127.0.0.1:\(self.port)", "--token-file", self.tokenFile, "--instance", instance, "--group", "web",
                    "--credential", self.credentialID, "--file", self.keyFile(instance), "--check", check, "--poll-interval", "1s",
                    "--state-file", self.directory + "/\(instance).state.json", "--command-timeout", "10s",
                ],
                environment: [:])
        }

        /// A check that authenticates at the sandbox's fake Vultr with the key in the file, when
        /// curl is here; else one that the file holds a key.
        var workingCheck: String {
            if FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") {
                return #"curl -sf -o /dev/null -H "Authorization: Bearer $(cat "$ROTOR_KEY_FILE")" \#(self.vultrURL)/v2/account"#
            }
            return #"test -s "$ROTOR_KEY_FILE""#
        }

        func rotate() async throws -> [String: Any] {
            let job = try await self.call(.POST, "/v1/jobs", #"{"credential_id":"\#(self.credentialID)"}"#)
            let jobID = try #require(job["id"] as? String, "\(job)")
            var finished = job
            let deadline = ContinuousClock.now + .seconds(50)
            while ["queued", "running"].contains(finished["state"] as? String ?? ""), ContinuousClock.now < deadline {
                finished = try await self.call(.GET, "/v1/jobs/\(jobID)?wait=PT10S")
            }
            return finished
        }

        func file(_ instance: String) -> String? { try? String(contentsOfFile: self.keyFile(instance), encoding: .utf8) }

        deinit {
            if self.rotor.process.isRunning { self.rotor.process.terminate() }
        }
    }

    /// Stops an agent with SIGTERM and expects a clean exit, and no key or token in its log.
    static func stop(_ agent: RotorProcessTests.RunningRotor, keys: [String], token: String) async throws {
        agent.process.terminate()
        #expect(try await agent.exitStatus() == 0, "\(agent.errors)")
        for key in keys { #expect(!agent.errors.contains(key) && !agent.output.contains(key), "a key reached the agent's output") }
        #expect(!agent.errors.contains(token), "the token reached the agent's log")
    }

    @Test("two agents apply the new key, the rotation waits for both and succeeds, and both files hold the new key")
    func rotationWithTwoAgents() async throws {
        let world = try await World()
        let old = try await world.currentKey()
        let token = try String(contentsOfFile: world.tokenFile, encoding: .utf8)
        let a = try world.agent("a", check: world.workingCheck)
        let b = try world.agent("b", check: world.workingCheck)
        try await Poll.until("both agents applied version 1") { try await world.appliedVersions() == ["a": 1, "b": 1] }
        #expect(world.file("a") == old.secret)
        #expect(world.file("b") == old.secret)
        // Idle: each agent holds one long-poll (the server counts them as parked) and makes no
        // other request (a busy loop would make hundreds in 3 s).
        let fetchesBefore = world.rotor.errors.components(separatedBy: "/agent/key").count
        try await Task.sleep(for: .seconds(3))
        let fetches = world.rotor.errors.components(separatedBy: "/agent/key").count - fetchesBefore
        #expect(fetches <= 2, "\(fetches) fetches in 3 s")
        #expect(try await world.parkedRequests() == 2)
        let mode = try FileManager.default.attributesOfItem(atPath: world.keyFile("a"))[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let job = try await world.rotate()
        #expect(job["state"] as? String == "succeeded", "\(job)\n\(a.errors)\n\(b.errors)")
        let new = try await world.currentKey()
        #expect(new.version == 2)
        #expect(new.secret != old.secret)
        #expect(world.file("a") == new.secret)
        #expect(world.file("b") == new.secret)
        #expect(try await world.appliedVersions() == ["a": 2, "b": 2])
        // The agents saw the rotation finish: their state files say version 2 is current.
        try await Poll.until("the state files record version 2 as current") {
            ["a", "b"].allSatisfy { instance in
                let state = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: world.directory + "/\(instance).state.json")))) as? [String: [String: Any]]
                return state?[world.credentialID]?["version"] as? Int == 2 && state?[world.credentialID]?["status"] as? String == "current"
            }
        }
        #expect(a.process.isRunning && b.process.isRunning)
        try await Self.stop(a, keys: [old.secret, new.secret], token: token)
        try await Self.stop(b, keys: [old.secret, new.secret], token: token)

        // A restart with the key in place rewrites nothing (same inode) and acknowledges again.
        let inode = try FileManager.default.attributesOfItem(atPath: world.keyFile("a"))[.systemFileNumber] as? Int
        let again = try world.agent("a", check: world.workingCheck)
        try await Poll.until("the restarted agent checked and acknowledged") { again.errors.contains("acknowledged") }
        #expect(again.errors.contains("key already in place"), "\(again.errors)")
        #expect(try FileManager.default.attributesOfItem(atPath: world.keyFile("a"))[.systemFileNumber] as? Int == inode)

        // Rotor goes away: the agent keeps running and keeps the key, retrying with backoff.
        world.rotor.process.terminate()
        _ = try await world.rotor.exitStatus()
        try await Poll.until("the agent noticed Rotor is gone") { again.errors.contains("cannot fetch the key; the key in place stays") }
        try await Task.sleep(for: .seconds(2))
        #expect(again.process.isRunning)
        #expect(world.file("a") == new.secret)
        try await Self.stop(again, keys: [old.secret, new.secret], token: token)
    }

    @Test("a third agent whose check fails rolls the rotation back, and every file ends with the old key")
    func failingCheckRollsBack() async throws {
        let world = try await World()
        let old = try await world.currentKey()
        let token = try String(contentsOfFile: world.tokenFile, encoding: .utf8)
        let a = try world.agent("a", check: world.workingCheck)
        let b = try world.agent("b", check: world.workingCheck)
        let c = try world.agent("c", check: "echo 'workload refused the key' >&2; false")
        try await Poll.until("all three agents reported") { try await world.appliedVersions().count == 3 }

        let job = try await world.rotate()
        #expect(job["state"] as? String == "rolled_back", "\(job)\n\(c.errors)")
        let error = try #require(job["error"] as? [String: Any], "\(job)")
        #expect(error["code"] as? String == "agent_check_failed", "\(error)")
        // The check's own words came through the acknowledgement.
        #expect((error["message"] as? String)?.contains("Agent instance c of group web failed its check") == true, "\(error)")
        #expect((error["message"] as? String)?.contains("workload refused the key") == true, "\(error)")
        let after = try await world.currentKey()
        #expect(after.version == 1)
        #expect(after.secret == old.secret)
        // The old key still works at the provider.
        var account = HTTPClientRequest(url: world.vultrURL + "/v2/account")
        account.headers.add(name: "Authorization", value: "Bearer \(old.secret)")
        #expect(try await HTTPClient.shared.execute(account, timeout: .seconds(10)).status == .ok)
        try await Poll.until("every file holds the old key again") {
            ["a", "b", "c"].allSatisfy { world.file($0) == old.secret }
        }
        // a and b acknowledged the old key back as applied; c's check still fails.
        try await Poll.until("a and b applied version 1 again") {
            let versions = try await world.appliedVersions()
            return versions["a"] == 1 && versions["b"] == 1
        }
        #expect(c.errors.contains("check failed"), "\(c.errors)")
        #expect(c.errors.contains("workload refused the key"))
        for agent in [a, b, c] { try await Self.stop(agent, keys: [old.secret], token: token) }
        world.rotor.process.terminate()
        _ = try await world.rotor.exitStatus()
    }

    @Test("a bad configuration exits 78 naming the field; --once against a wrong credential exits 1")
    func badConfigurationAndOnce() async throws {
        let bad = try RotorProcessTests.RunningRotor(arguments: ["agent", "--url", "ftp://x", "--mode", "0999"], environment: [:])
        #expect(try await bad.exitStatus() == 78)
        #expect(bad.errors.contains("--url"), "\(bad.errors)")
        #expect(bad.errors.contains("--mode"))
        #expect(bad.errors.contains("--token-file"))

        let world = try await World()
        let once = try RotorProcessTests.RunningRotor(
            arguments: [
                "agent", "--once", "--url", "http://127.0.0.1:\(world.port)", "--token-file", world.tokenFile, "--instance", "init", "--group", "web",
                "--credential", "cred_0000000000000000000000000a", "--file", world.directory + "/once.key",
            ],
            environment: [:])
        #expect(try await once.exitStatus() == 1)
        #expect(once.errors.contains("Rotor refused"), "\(once.errors)")
        #expect(!FileManager.default.fileExists(atPath: world.directory + "/once.key"))

        let good = try RotorProcessTests.RunningRotor(
            arguments: [
                "agent", "--once", "--url", "http://127.0.0.1:\(world.port)", "--token-file", world.tokenFile, "--instance", "init", "--group", "web",
                "--credential", world.credentialID, "--file", world.directory + "/once.key", "--check", world.workingCheck,
            ],
            environment: [:])
        #expect(try await good.exitStatus() == 0, "\(good.errors)")
        #expect(try await world.currentKey().secret == String(contentsOfFile: world.directory + "/once.key", encoding: .utf8))
        world.rotor.process.terminate()
        _ = try await world.rotor.exitStatus()
    }
}
