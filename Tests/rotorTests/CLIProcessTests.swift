import ChildProcess
import Foundation
import NIOHTTP1
import RotorClient
import Testing

/// The operator commands (`rotor credentials`, `rotor rotate`, …) as real processes against a
/// real `rotor serve --sandbox`, as a newcomer would use them.
@Suite(.timeLimit(.minutes(2))) struct CLIProcessTests {
    typealias RunningRotor = RotorProcessTests.RunningRotor

    /// A sandbox server with its port, admin token and the sandbox Vultr key to register.
    struct Sandbox {
        let server: RunningRotor
        let url: String
        let token: String
        let key: String

        init() async throws {
            let dataDirectory = NSTemporaryDirectory() + "rotor-cli-\(UUID().uuidString)"
            // Quick retries and few attempts, so a rotation that cannot deliver fails in seconds.
            self.server = try RunningRotor(
                arguments: ["serve", "--sandbox", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory],
                environment: ["ROTOR_RETRY_BASE": "PT0.05S", "ROTOR_RETRY_MAX": "PT0.2S", "ROTOR_STEP_ATTEMPTS": "2"])
            self.url = "http://127.0.0.1:\(try await self.server.port())"
            self.token = String(try #require(self.server.output.firstMatch(of: /admin token: (rtr_\S+)/)?.output.1))
            self.key = String(try #require(self.server.output.firstMatch(of: /sandbox Vultr API key to register as a credential: (\S+)/)?.output.1))
        }

        /// Runs `rotor arguments…` with ROTOR_URL and ROTOR_TOKEN set; its exit status and output.
        func rotor(_ arguments: [String], input: String? = nil, environment: [String: String] = [:]) async throws -> CLIResult {
            try await CLIProcessTests.run(arguments, input: input, environment: ["ROTOR_URL": self.url, "ROTOR_TOKEN": self.token].merging(environment) { $1 })
        }

        func stop() async throws {
            self.server.process.terminate()
            _ = try await self.server.exitStatus()
        }
    }

    struct CLIResult {
        let status: Int32
        let output: String
        let errors: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(self.output.utf8))) as? [String: Any] ?? [:] }
        var items: [[String: Any]] { self.json["data"] as? [[String: Any]] ?? [] }
    }

    static func run(_ arguments: [String], input: String? = nil, environment: [String: String] = [:], within limit: Duration = .seconds(60)) async throws -> CLIResult {
        let process = try RunningRotor(arguments: arguments, environment: environment, input: input)
        let status = try await process.exitStatus(within: limit)
        return CLIResult(status: status, output: process.output, errors: process.errors)
    }

    @Test("a newcomer adds the sandbox key, rotates it with --follow, lists jobs and revokes a token, using only rotor", arguments: ["table", "json"])
    func newcomer(output: String) async throws {
        let sandbox = try await Sandbox()
        let mode = ["--output", output]

        let added = try await sandbox.rotor(["credentials", "add", "sandbox"] + mode, input: sandbox.key + "\n")
        #expect(added.status == 0, "\(added)")
        if output == "json" {
            #expect(added.json["name"] as? String == "sandbox")
            #expect(added.json["version"] as? Int == 1)
            // The API's JSON, keys in a stable (sorted) order.
            #expect(added.output.hasPrefix(#"{"created_at":"#), "\(added.output)")
        } else {
            #expect(added.output.contains("sandbox") && added.output.contains("active"), "\(added)")
        }

        let rotated = try await sandbox.rotor(["rotate", "sandbox", "--follow", "--reason", "first rotation"] + mode)
        #expect(rotated.status == 0, "\(rotated)")
        if output == "json" {
            #expect(rotated.json["state"] as? String == "succeeded", "\(rotated)")
        } else {
            // One line per step as it happened (stdout is a file here, not a terminal), then the outcome.
            for step in ["create", "distribute", "verify", "revoke", "finalize"] {
                #expect(rotated.output.contains(" \(step) "), "no line for \(step): \(rotated.output)")
            }
            #expect(rotated.output.contains("succeeded after"), "\(rotated.output)")
            #expect(!rotated.output.contains("\u{1B}["), "colour into a file")
        }

        let rotation = try await sandbox.rotor(["jobs", "list", "--output", "json"])
        let followed = try await sandbox.rotor(["jobs", "show", try #require(rotation.items.first?["id"] as? String), "--follow"] + mode)
        #expect(followed.status == 0, "following a finished job ends at once with its outcome: \(followed)")

        let shown = try await sandbox.rotor(["credentials", "show", "sandbox"] + mode)
        #expect(shown.status == 0)
        #expect(output == "json" ? shown.json["version"] as? Int == 2 : shown.output.contains("version:") && shown.output.contains(" 2\n"), "\(shown)")

        let jobs = try await sandbox.rotor(["jobs", "list", "--credential", "sandbox"] + mode)
        #expect(jobs.status == 0)
        if output == "json" {
            #expect(jobs.items.map { $0["state"] as? String } == ["succeeded"], "\(jobs)")
        } else {
            let lines = jobs.output.split(separator: "\n")
            #expect(lines.first?.hasPrefix("ID") == true && lines.count == 2 && lines[1].contains("succeeded"), "\(jobs.output)")
        }

        let created = try await sandbox.rotor(["tokens", "create", "ci", "--scope", "jobs:read", "--credential", "sandbox"] + mode)
        #expect(created.status == 0, "\(created)")
        let ciToken = try #require(output == "json" ? created.json["token"] as? String : created.output.firstMatch(of: /(rtr_\S+)/).map { String($0.output.1) })
        #expect(try await sandbox.rotor(["jobs", "list"], environment: ["ROTOR_TOKEN": ciToken]).status == 0)
        let revoked = try await sandbox.rotor(["tokens", "revoke", "ci"] + mode)
        #expect(revoked.status == 0, "\(revoked)")
        let refused = try await sandbox.rotor(["jobs", "list"], environment: ["ROTOR_TOKEN": ciToken])
        #expect(refused.status == 1, "a revoked token still works: \(refused)")
        let tokens = try await sandbox.rotor(["tokens", "list"] + mode)
        if output == "json" {
            #expect(!tokens.items.contains { $0["name"] as? String == "ci" }, "\(tokens.output)")
        } else {
            #expect(!tokens.output.split(separator: "\n").contains { $0.hasPrefix("ci ") }, "\(tokens.output)")
        }

        let status = try await sandbox.rotor(["status"] + mode)
        #expect(status.status == 0)
        #expect(output == "json" ? (status.json["credentials"] as? [Any])?.count == 1 : status.output.contains("Nothing needs attention."), "\(status)")
        // The admin token is never printed.
        for result in [added, rotated, shown, jobs, revoked, status] {
            #expect(!result.output.contains(sandbox.token) && !result.errors.contains(sandbox.token))
        }
        try await sandbox.stop()
    }

    @Test("triggers and subscriptions are created (secret shown once), listed, shown and deleted by name; a bad one is refused; the audit log lists what happened")
    func triggersSubscriptionsAudit() async throws {
        let sandbox = try await Sandbox()
        let added = try await sandbox.rotor(["credentials", "add", "sandbox", "--output", "json"], input: sandbox.key)
        let credential = try #require(added.json["id"] as? String, "\(added)")
        let madeTrigger = try await sandbox.rotor(["triggers", "create", "--credential", "sandbox", "--description", "ci hook", "--output", "json"])
        let trigger = try #require(madeTrigger.json["id"] as? String, "\(madeTrigger)")
        #expect(madeTrigger.json["credential_ids"] as? [String] == [credential])
        let triggerSecret = try #require(madeTrigger.json["secret"] as? String)
        #expect(triggerSecret.count >= 32)
        let madeSubscription = try await sandbox.rotor(["subscriptions", "create", "https://example.com/events", "--event", "job.failed"])
        #expect(madeSubscription.status == 0, "\(madeSubscription)")
        let subscription = try #require(madeSubscription.output.firstMatch(of: /sub_[0-9a-z]+/).map { String($0.output) }, "\(madeSubscription)")
        let subscriptionSecret = try #require(
            madeSubscription.output.firstMatch(of: /signing secret \(shown this once\): (\S+)/).map { String($0.output.1) }, "\(madeSubscription)")
        // A roll prints a new secret once; the old one keeps verifying for the overlap.
        let rolled = try await sandbox.rotor(["triggers", "roll-secret", "ci hook", "--overlap", "PT1H", "--output", "json"])
        let rolledSecret = try #require(rolled.json["secret"] as? String, "\(rolled)")
        #expect(rolledSecret != triggerSecret && rolledSecret.count >= 32)
        #expect(rolled.json["previous_secret_expires_at"] as? String != nil, "\(rolled)")
        let rolledText = try await sandbox.rotor(["triggers", "roll-secret", trigger, "--overlap", "PT0S"])
        #expect(rolledText.status == 0 && rolledText.output.contains("signing secret (shown this once): ") && rolledText.output.contains("the old secret no longer verifies"), "\(rolledText)")
        #expect(try await sandbox.rotor(["triggers", "roll-secret", "ci hook", "--overlap", "P30D"]).status == 1)
        // Refused with the server's field error, and nothing made.
        let bad = try await sandbox.rotor(["subscriptions", "create", "https://example.com/other", "--event", "job.exploded"])
        #expect(bad.status == 1 && bad.errors.contains("events"), "\(bad)")

        let triggers = try await sandbox.rotor(["triggers", "list"])
        #expect(triggers.status == 0 && triggers.output.contains(trigger) && triggers.output.contains("ci hook"), "\(triggers)")
        let shownTrigger = try await sandbox.rotor(["triggers", "show", "ci hook", "--output", "json"])
        #expect(shownTrigger.json["id"] as? String == trigger, "\(shownTrigger)")
        let subscriptions = try await sandbox.rotor(["subscriptions", "list", "--output", "json"])
        #expect(subscriptions.items.map { $0["id"] as? String } == [subscription], "\(subscriptions)")
        let shownSubscription = try await sandbox.rotor(["subscriptions", "show", "https://example.com/events"])
        #expect(shownSubscription.output.contains("job.failed"), "\(shownSubscription)")
        // The secrets were shown once: never again.
        for shown in [triggers, shownTrigger, subscriptions, shownSubscription] {
            #expect(!shown.output.contains(triggerSecret) && !shown.output.contains(subscriptionSecret))
        }

        #expect(try await sandbox.rotor(["triggers", "delete", "ci hook"]).status == 0)
        #expect(try await sandbox.rotor(["subscriptions", "delete", subscription]).status == 0)
        #expect(try await sandbox.rotor(["triggers", "list"]).output == "(none)\n")
        #expect(try await sandbox.rotor(["subscriptions", "show", subscription]).status == 1)

        let audit = try await sandbox.rotor(["audit", "list", "--limit", "200", "--output", "json"])
        let actions = audit.items.compactMap { $0["action"] as? String }
        for action in ["credential.create", "trigger.create", "subscription.create", "trigger.delete", "subscription.delete"] {
            #expect(actions.contains(action), "\(action) not in \(actions)")
        }
        let page = try await sandbox.rotor(["audit", "list", "--limit", "2"])
        #expect(page.output.contains("next page: --cursor "), "\(page.output)")
        try await sandbox.stop()
    }

    @Test(
        "on a terminal: colour, and a live line with the step and elapsed time while following; no colour with NO_COLOR",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs util-linux script for a pseudo-terminal")
    )
    func terminal() async throws {
        let sandbox = try await Sandbox()
        #expect(try await sandbox.rotor(["credentials", "add", "sandbox"], input: sandbox.key).status == 0)
        /// `rotor arguments…` on a pseudo-terminal (util-linux `script`); what the terminal showed.
        func onTerminal(_ arguments: [String], noColor: Bool) async throws -> CLIResult {
            let command = ([try RotorProcessTests.binary.path] + arguments).joined(separator: " ")
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-tty-\(UUID().uuidString)").path
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            defer { try? FileManager.default.removeItem(atPath: output) }
            let process = try Spawned(
                executable: "/usr/bin/script", arguments: ["-qec", command, "/dev/null"],
                environment: ["ROTOR_URL": sandbox.url, "ROTOR_TOKEN": sandbox.token, "PATH": "/usr/bin:/bin", "TERM": "xterm"]
                    .merging(noColor ? ["NO_COLOR": "1"] : [:]) { $1 },
                output: output)
            while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
            let data = FileManager.default.contents(atPath: output) ?? Data()
            return CLIResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self), errors: "")
        }
        let followed = try await onTerminal(["rotate", "sandbox", "--follow", "--grace", "PT2S"], noColor: false)
        #expect(followed.status == 0, "\(followed)")
        #expect(followed.output.contains("\u{1B}[32msucceeded\u{1B}[0m"), "no colour on a terminal: \(followed.output)")
        // The live line is redrawn in place (carriage return, erase line) with the step and the time so far.
        #expect(followed.output.firstMatch(of: /\r\u{1B}\[2K.*grace  [0-9]+s/) != nil, "\(followed.output)")
        let plain = try await onTerminal(["jobs", "list"], noColor: true)
        #expect(plain.status == 0 && plain.output.contains("succeeded"), "\(plain)")
        #expect(!plain.output.contains("\u{1B}["), "colour despite NO_COLOR: \(plain.output)")
        try await sandbox.stop()
    }

    @Test(
        "over HTTPS: --ca-file trusts a private CA; without it the certificate is refused and rotor exits 3",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "needs the openssl command-line tool")
    )
    func https() async throws {
        let pki = try TLSProcessTests.PKI()
        try await pki.makeCA("ca")
        try await pki.makeServer("server", signedBy: "ca")
        let server = try RunningRotor(
            arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", pki.path("data")],
            environment: TLSProcessTests.environment.merging(["ROTOR_TLS_CERT_FILE": pki.path("server.pem"), "ROTOR_TLS_KEY_FILE": pki.path("server.key")]) { $1 })
        let environment = ["ROTOR_URL": "https://127.0.0.1:\(try await server.port())", "ROTOR_TOKEN": ServeConfigurationTests.token]
        let trusted = try await Self.run(["tokens", "list", "--ca-file", pki.path("ca.pem")], environment: environment)
        #expect(trusted.status == 0 && trusted.output.contains("(none)"), "\(trusted)")
        let untrusted = try await Self.run(["tokens", "list", "--timeout", "5"], environment: environment)
        #expect(untrusted.status == 3, "\(untrusted)")
        server.process.terminate()
        _ = try await server.exitStatus()
    }

    @Test("a rotation whose delivery fails exits 1 with the job's error; status then says it needs attention")
    func failedRotation() async throws {
        let sandbox = try await Sandbox()
        let added = try await sandbox.rotor(
            ["credentials", "add", "broken", "--target", "http://127.0.0.1:\(try Self.closedPort())/hook", "--secret-file", "/dev/stdin"], input: sandbox.key)
        #expect(added.status == 0, "\(added)")
        let rotated = try await sandbox.rotor(["rotate", "broken", "--follow"])
        #expect(rotated.status == 1, "\(rotated)")
        // The last line: the outcome, then the job's error and the step it failed in.
        let last = String(rotated.output.split(separator: "\n").last ?? "")
        #expect(last.firstMatch(of: /^job_\S+ (rolled_back|failed) after \d+s: .+ \(\S+ in distribute\)$/) != nil, "\(rotated.output)")
        let status = try await sandbox.rotor(["status"])
        #expect(status.output.contains("last job"), "\(status.output)")
        try await sandbox.stop()
    }

    @Test("a bad token exits 1 with the server's problem, and the token appears nowhere")
    func badToken() async throws {
        let sandbox = try await Sandbox()
        let bad = "rtr_not-a-real-token-0123456789"
        let refused = try await sandbox.rotor(["credentials", "list"], environment: ["ROTOR_TOKEN": bad])
        #expect(refused.status == 1)
        #expect(refused.errors.contains("(401 unauthorized)"), "\(refused.errors)")
        #expect(!refused.errors.contains(bad) && !refused.output.contains(bad))

        let invalid = try await sandbox.rotor(["rotate", "no-such-credential"])
        #expect(invalid.status == 1)
        #expect(invalid.errors.contains("No credential is named \"no-such-credential\""), "\(invalid.errors)")

        let problem = try await sandbox.rotor(["credentials", "add", "x", "--every", "soon"], input: sandbox.key)
        #expect(problem.status == 1)
        // Title, detail, then each field error on its own line.
        #expect(problem.errors.split(separator: "\n").contains { $0.hasPrefix("  schedule") }, "\(problem.errors)")
        try await sandbox.stop()
    }

    @Test("an unreachable server exits 3 within the timeout; one that never answers too; a usage error exits 2")
    func unreachable() async throws {
        let started = ContinuousClock.now
        // A refused connection is reported at once, not after the 30 s timeout: the wide gap keeps
        // a slow process start on a loaded machine from reading as a wait.
        let closed = try await Self.run(["credentials", "list", "--url", "http://127.0.0.1:\(try Self.closedPort())", "--timeout", "30"], within: .seconds(40))
        #expect(closed.status == 3, "\(closed)")
        #expect(ContinuousClock.now - started < .seconds(15))
        #expect(closed.errors.contains("unreachable"), "\(closed.errors)")

        // Accepts connections (the kernel's backlog) but never answers.
        let silent = try Self.silentListener()
        defer { close(silent.socket) }
        let waitStart = ContinuousClock.now
        let held = try await Self.run(["jobs", "list", "--url", "http://127.0.0.1:\(silent.port)", "--timeout", "1", "--token", "rtr_x"], within: .seconds(30))
        #expect(held.status == 3, "\(held)")
        #expect(ContinuousClock.now - waitStart < .seconds(15))

        let usage = try await Self.run(["rotate"])
        #expect(usage.status == 2, "\(usage)")
        #expect(try await Self.run(["jobs", "list", "--output", "yaml"]).status == 2)
    }

    @Test("docs/cli.md names every option of every operator command's --help")
    func documented() async throws {
        let docs = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/cli.md"), encoding: .utf8)
        let commands = [
            ["status"], ["rotate"], ["credentials", "list"], ["credentials", "show"], ["credentials", "add"], ["credentials", "update"],
            ["credentials", "delete"], ["jobs", "list"], ["jobs", "show"], ["jobs", "events"], ["jobs", "cancel"], ["tokens", "create"],
            ["tokens", "list"], ["tokens", "revoke"], ["triggers", "list"], ["triggers", "show"], ["triggers", "delete"],
            ["subscriptions", "list"], ["subscriptions", "show"], ["subscriptions", "delete"], ["audit", "list"],
        ]
        for command in commands {
            let help = try await Self.run(command + ["--help"])
            #expect(help.status == 0)
            #expect(docs.contains("rotor \(command.joined(separator: " "))"), "docs/cli.md lacks rotor \(command.joined(separator: " "))")
            let options = Set(help.output.matches(of: /--[a-z][a-z-]+/).map { String($0.output) })
            for option in options.sorted() where option != "--help" {
                #expect(docs.contains(option), "docs/cli.md lacks \(option) of rotor \(command.joined(separator: " "))")
            }
        }
    }

    @Test("every operation the client calls is in openapi.yaml, with that method and path")
    func endpointsInSpec() throws {
        let spec = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../openapi.yaml"), encoding: .utf8)
        var operations: Set<String> = []
        var path = ""
        var method = ""
        for line in spec.split(separator: "\n") {
            if let match = line.wholeMatch(of: #/  (\/[^:]+):/#) { path = String(match.output.1) }
            if let match = line.wholeMatch(of: #/    (get|post|put|patch|delete):/#) { method = match.output.1.uppercased() }
            if let match = line.wholeMatch(of: #/      operationId: (\w+)/#) { operations.insert("\(method) \(path) \(match.output.1)") }
        }
        #expect(operations.count > 30)
        for endpoint in Endpoint.allCases {
            #expect(operations.contains("\(endpoint.method) \(endpoint.template) \(endpoint.rawValue)"), "\(endpoint) is not in openapi.yaml")
        }
    }

    /// A loopback port nothing listens on.
    static func closedPort() throws -> Int {
        let listener = try self.silentListener()
        close(listener.socket)
        return listener.port
    }

    /// A loopback socket that listens and never accepts.
    static func silentListener() throws -> (socket: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound)
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}
