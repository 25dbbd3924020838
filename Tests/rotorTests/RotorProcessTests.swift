import AsyncHTTPClient
import ChildProcess
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// Runs the built `rotor` binary as an operator would.
@Suite(.timeLimit(.minutes(1))) struct RotorProcessTests {
    /// The `rotor` binary beside the test bundle (`swift build` puts both in one directory).
    static var binary: URL {
        get throws {
            let candidates = [
                Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("rotor"),
                URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("rotor"),
                Bundle.main.bundleURL.appendingPathComponent("rotor"),
            ]
            return try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }, "rotor binary not found near \(Bundle.main.bundleURL.path)")
        }
    }

    /// A running `rotor` process with its output captured to files.
    final class RunningRotor: Sendable {
        let process: Spawned
        let stdout: URL
        let stderr: URL

        /// `input` is what the process reads on stdin (nothing, at end of file, when nil).
        init(arguments: [String], environment: [String: String], asUser uid: Int? = nil, input: String? = nil) throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-proc-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            self.stdout = directory.appendingPathComponent("stdout")
            self.stderr = directory.appendingPathComponent("stderr")
            guard FileManager.default.createFile(atPath: self.stdout.path, contents: nil),
                FileManager.default.createFile(atPath: self.stderr.path, contents: nil)
            else { throw CocoaError(.fileWriteUnknown) }
            let executable: String
            let fullArguments: [String]
            if let uid {
                // setpriv (util-linux) drops to an unprivileged uid/gid before exec.
                executable = "/usr/bin/setpriv"
                fullArguments = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", try RotorProcessTests.binary.path] + arguments
                try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: directory.path)
            } else {
                executable = try RotorProcessTests.binary.path
                fullArguments = arguments
            }
            let stdin = directory.appendingPathComponent("stdin")
            guard FileManager.default.createFile(atPath: stdin.path, contents: Data((input ?? "").utf8)) else { throw CocoaError(.fileWriteUnknown) }
            // Only what the test gives: nothing from the developer's shell leaks in. The tests'
            // targets, subscribers and fake providers listen on loopback, which the outbound
            // policy denies unless allowed; a test of the policy itself sets its own value.
            self.process = try Spawned(
                executable: executable, arguments: fullArguments,
                environment: ["ROTOR_OUTBOUND_ALLOW": "127.0.0.0/8,::1"].merging(environment) { $1 }.merging(["PATH": "/usr/bin:/bin"]) { $1 },
                input: stdin.path, output: self.stdout.path, errors: self.stderr.path)
        }

        var output: String { (try? String(contentsOf: self.stdout, encoding: .utf8)) ?? "" }
        var errors: String { (try? String(contentsOf: self.stderr, encoding: .utf8)) ?? "" }

        /// Waits for the exit status, polling so no thread blocks.
        func exitStatus(within limit: Duration = .seconds(20)) async throws -> Int32 {
            let deadline = ContinuousClock.now + limit
            while self.process.isRunning {
                guard ContinuousClock.now < deadline else {
                    self.process.terminate()
                    Issue.record("rotor did not exit in time")
                    return -1
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            return self.process.terminationStatus
        }

        /// The port from the `listening` log line (text or JSON).
        func port(within limit: Duration = .seconds(20)) async throws -> Int {
            let deadline = ContinuousClock.now + limit
            while ContinuousClock.now < deadline {
                if let match = self.errors.firstMatch(of: /address[=":]+127\.0\.0\.1:(\d+)/), let port = Int(match.output.1) {
                    return port
                }
                guard self.process.isRunning else { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            Issue.record("no listening line; stderr: \(self.errors)")
            throw CancellationError()
        }

        deinit {
            if self.process.isRunning { self.process.terminate() }
        }
    }

    @Test("without configuration, serve exits 78 and says what to set")
    func refusesToStart() async throws {
        let rotor = try RunningRotor(arguments: ["serve", "--data-dir", NSTemporaryDirectory() + "rotor-refuse-\(UUID().uuidString)"], environment: [:])
        #expect(try await rotor.exitStatus() == 78)
        #expect(rotor.errors.contains("ROTOR_ADMIN_TOKEN"))
        #expect(rotor.errors.contains("ROTOR_MASTER_KEY"))
        #expect(rotor.errors.contains("--dev"))
    }

    @Test("a second serve on the same SQLite data directory refuses to start, and starts once the first has stopped")
    func oneServePerSQLiteDatabase() async throws {
        let dataDirectory = NSTemporaryDirectory() + "rotor-lock-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let arguments = ["serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory]
        let first = try RunningRotor(arguments: arguments, environment: [:])
        _ = try await first.port()
        let second = try RunningRotor(arguments: arguments, environment: [:])
        #expect(try await second.exitStatus() != 0)
        #expect(second.errors.contains("another rotor serve is using the SQLite database"), "\(second.errors)")
        first.process.terminate()
        #expect(try await first.exitStatus() == 0)
        let third = try RunningRotor(arguments: arguments, environment: [:])
        _ = try await third.port()
        third.process.terminate()
        #expect(try await third.exitStatus() == 0)
    }

    @Test("serve --dev prints a working admin token, answers over HTTP, and exits 0 on SIGTERM")
    func devServeAndGracefulStop() async throws {
        let dataDirectory = NSTemporaryDirectory() + "rotor-dev-\(UUID().uuidString)"
        let rotor = try RunningRotor(arguments: ["serve", "--dev", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory], environment: [:])
        let port = try await rotor.port()
        let token = try #require(rotor.output.firstMatch(of: /admin token: (rtr_\S+)/)?.output.1)
        #expect(try String(contentsOfFile: dataDirectory + "/admin-token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == String(token))

        let health = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz"), timeout: .seconds(30))
        #expect(health.status == .ok)
        var whoami = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/whoami")
        whoami.headers.add(name: "Authorization", value: "Bearer \(token)")
        let identity = try await HTTPClient.shared.execute(whoami, timeout: .seconds(30))
        #expect(identity.status == .ok)
        let anonymous = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/whoami"), timeout: .seconds(30))
        #expect(anonymous.status == .unauthorized)

        rotor.process.interrupt()  // SIGINT; SIGTERM below on a second process
        #expect(try await rotor.exitStatus() == 0)
        // The token was printed for the operator, never logged.
        #expect(!rotor.errors.contains(String(token)))
    }

    @Test("SIGTERM stops a configured server cleanly")
    func sigterm() async throws {
        let rotor = try RunningRotor(
            arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", NSTemporaryDirectory() + "rotor-term-\(UUID().uuidString)"],
            environment: ["ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token, "ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey]
        )
        let port = try await rotor.port()
        let health = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz"), timeout: .seconds(30))
        #expect(health.status == .ok)
        rotor.process.terminate()
        #expect(try await rotor.exitStatus() == 0)
        #expect(rotor.errors.contains("stopped"))
        #expect(!rotor.errors.contains(ServeConfigurationTests.token))
    }

    @Test(
        "a non-root server accepts connections (no privileged socket options), with core dumps off and not dumpable",
        .enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs root to drop to another user")
    )
    func unprivileged() async throws {
        let dataDirectory = NSTemporaryDirectory() + "rotor-nobody-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        let rotor = try RunningRotor(
            arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory + "/data"],
            environment: ["ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token, "ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey],
            asUser: 65534
        )
        let port = try await rotor.port()
        for _ in 0..<3 {
            let health = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz"), timeout: .seconds(30))
            #expect(health.status == .ok)
        }
        #expect(rotor.process.isRunning)
        // Hardened at start: no core file, and not dumpable, so /proc/<pid> belongs to root
        // rather than to the uid it runs as, and that uid cannot attach a debugger.
        let pid = rotor.process.processIdentifier
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        let core = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") })
        #expect(core.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).prefix(2) == ["0", "0"], "\(core)")
        let owner = try FileManager.default.attributesOfItem(atPath: "/proc/\(pid)/status")[.ownerAccountID] as? Int
        #expect(owner == 0, "/proc/\(pid)/status belongs to uid \(String(describing: owner)): the process is dumpable")
        rotor.process.terminate()
        #expect(try await rotor.exitStatus() == 0)
    }

    @Test("ROTOR_EVENT_LOOPS sets the number of NIO event-loop threads", arguments: [1, 3])
    func eventLoops(count: Int) async throws {
        let rotor = try RunningRotor(
            arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", NSTemporaryDirectory() + "rotor-loops-\(UUID().uuidString)"],
            environment: [
                "ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token, "ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey,
                "ROTOR_EVENT_LOOPS": String(count),
            ]
        )
        _ = try await rotor.port()
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(rotor.process.processIdentifier)/task")
        let names = tasks.compactMap { try? String(contentsOfFile: "/proc/\(rotor.process.processIdentifier)/task/\($0)/comm", encoding: .utf8) }
        #expect(names.filter { $0.hasPrefix("NIO-SGLTN-") }.count == count, "\(names)")
        rotor.process.terminate()
        #expect(try await rotor.exitStatus() == 0)
    }

    @Test("rotor demo --provider vultr-user rotates a sub-user's key through the root user's manager credential and exits 0")
    func demoSubUser() async throws {
        let rotor = try RunningRotor(arguments: ["demo", "--provider", "vultr-user"], environment: [:])
        #expect(try await rotor.exitStatus(within: .seconds(45)) == 0, "\(rotor.output)\n\(rotor.errors)")
        #expect(rotor.output.contains("The rotation kept its promises."))
        #expect(!rotor.output.contains("FAIL"))
        #expect(rotor.output.contains("ok   the manager's own key is untouched"))
        #expect(rotor.output.contains("it will create and delete the sub-user's keys"))
    }

    @Test("rotor demo runs a whole rotation, with its agent confirming the new key before the old one is revoked, and exits 0")
    func demo() async throws {
        let rotor = try RunningRotor(arguments: ["demo"], environment: [:])
        #expect(try await rotor.exitStatus(within: .seconds(45)) == 0, "\(rotor.output)\n\(rotor.errors)")
        #expect(rotor.output.contains("The rotation kept its promises."))
        #expect(!rotor.output.contains("FAIL"))
        // The agent's part: its steps in the timeline and the checks on them.
        for line in [
            "Instance demo-1 shows applied_version 1.", "agents.acknowledged", "wrote version 2 (pending) to the key file", "check passed: ",
            "acknowledged version 2 to Rotor: applied", "version 2 is now current", "ok   the agent's key file holds the new key, mode 0600",
            "ok   at the fake Vultr the old key is refused (401) and the key in the agent's file is accepted", "ok   instance demo-1 shows applied_version 2",
        ] {
            #expect(rotor.output.contains(line), "missing: \(line)\n\(rotor.output)")
        }
        #expect(rotor.output.firstMatch(of: /ok   agent group demo acknowledged version 2 \(event \d+\) before revoke began \(event \d+\)/) != nil)
    }

    @Test("serve --sandbox: the printed sandbox key registers as a credential and rotates through the API")
    func sandbox() async throws {
        let dataDirectory = NSTemporaryDirectory() + "rotor-sandbox-\(UUID().uuidString)"
        let rotor = try RunningRotor(arguments: ["serve", "--sandbox", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory], environment: ["ROTOR_RETRY_BASE": "PT0.05S"])
        let port = try await rotor.port()
        let token = try #require(rotor.output.firstMatch(of: /admin token: (rtr_\S+)/)?.output.1)
        let key = try #require(rotor.output.firstMatch(of: /sandbox Vultr API key to register as a credential: (\S+)/)?.output.1)

        func call(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> (HTTPResponseStatus, [String: Any]) {
            try await RotorProcessTests.api(port: port, token: String(token), method, path, body)
        }
        let (created, credential) = try await call(.POST, "/v1/credentials", #"{"name":"sandbox","provider":"vultr","secret":"\#(key)","targets":[]}"#)
        #expect(created == .created)
        let credentialID = try #require(credential["id"] as? String)
        let (_, job) = try await call(.POST, "/v1/jobs", #"{"credential_id":"\#(credentialID)"}"#)
        let jobID = try #require(job["id"] as? String)
        let (_, finished) = try await call(.GET, "/v1/jobs/\(jobID)?wait=PT20S")
        #expect(finished["state"] as? String == "succeeded")
        let (_, after) = try await call(.GET, "/v1/credentials/\(credentialID)")
        #expect(after["version"] as? Int == 2)
        // The registered key was the sandbox's; its plaintext never appears in a response or the log.
        #expect(!rotor.errors.contains(String(key)))
        rotor.process.terminate()
        #expect(try await rotor.exitStatus() == 0)
    }

    /// One authenticated JSON call to a running `rotor`: the answer's status and JSON object.
    static func api(port: Int, token: String, _ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> (HTTPResponseStatus, [String: Any]) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (response.status, (try? JSONSerialization.jsonObject(with: Data(String(buffer: bytes).utf8)) as? [String: Any]) ?? [:])
    }
}
