import AsyncHTTPClient
import ChildProcess
import Foundation
import NIOCore
import NIOHTTP1
import RotorHTTP
import Testing

/// TLS on `rotor serve`'s own listener, against the built binary, with certificates `openssl`
/// makes in each test and requests made by `curl`.
@Suite(
    .timeLimit(.minutes(1)),
    .enabled(
        if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") && FileManager.default.isExecutableFile(atPath: "/usr/bin/curl"),
        "needs the openssl and curl command-line tools")
)
struct TLSProcessTests {
    typealias RunningRotor = RotorProcessTests.RunningRotor

    static let environment = ["ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token, "ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey]

    /// A throwaway PKI in a temporary directory: CAs, and server certificates they sign for
    /// `127.0.0.1` and `localhost`.
    struct PKI {
        let directory: URL

        init() throws {
            self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-tls-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
            try Data("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n".utf8)
                .write(to: self.directory.appendingPathComponent("server.ext"))
        }

        func path(_ name: String) -> String { self.directory.appendingPathComponent(name).path }

        /// Creates `<name>.pem` (a self-signed CA) and `<name>.key`.
        func makeCA(_ name: String) async throws {
            try await TLSProcessTests.run(
                "/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", self.path("\(name).key"), "-out", self.path("\(name).pem"), "-days", "2", "-subj", "/CN=Rotor test CA \(name)")
        }

        /// Creates `<name>.pem` and `<name>.key`: a server certificate signed by the CA `ca`, valid
        /// for `days` from now (a negative number: expired that many days ago).
        func makeServer(_ name: String, signedBy ca: String, days: Int = 2) async throws {
            try await TLSProcessTests.run(
                "/usr/bin/openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", self.path("\(name).key"), "-out", self.path("\(name).csr"), "-subj", "/CN=localhost")
            try await TLSProcessTests.run(
                "/usr/bin/openssl", "x509", "-req", "-in", self.path("\(name).csr"), "-CA", self.path("\(ca).pem"), "-CAkey", self.path("\(ca).key"),
                "-set_serial", "0x\(name.utf8.map { String(format: "%02x", $0) }.joined())", "-out", self.path("\(name).pem"), "-days", "\(days)",
                "-extfile", self.path("server.ext"))
        }

        /// Replaces `destination` with a copy of `source` in one rename, as a certificate renewer would.
        func install(_ source: String, as destination: String) throws {
            let staging = self.path(".\(destination).new")
            try? FileManager.default.removeItem(atPath: staging)
            try FileManager.default.copyItem(atPath: self.path(source), toPath: staging)
            guard rename(staging, self.path(destination)) == 0 else { throw CocoaError(.fileWriteUnknown) }
        }
    }

    /// What a command-line tool did.
    struct Outcome {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Runs a tool to its end; with `check`, a non-zero status fails the test.
    @discardableResult
    static func run(_ executable: String, _ arguments: String..., check: Bool = true) async throws -> Outcome {
        let outcome = try await Self.execute([executable] + arguments)
        if check && outcome.status != 0 {
            Issue.record("\(executable) \(arguments.joined(separator: " ")) exited \(outcome.status): \(outcome.errors)")
            throw CancellationError()
        }
        return outcome
    }

    /// Runs `command` (the executable, then its arguments) to its end, polling so no concurrency
    /// thread blocks.
    static func execute(_ command: [String]) async throws -> Outcome {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-tool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let stdout = directory.appendingPathComponent("stdout")
        let stderr = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdout.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderr.path, contents: nil)
        let process = try Spawned(
            executable: command[0], arguments: Array(command.dropFirst()), environment: ProcessInfo.processInfo.environment,
            output: stdout.path, errors: stderr.path)
        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        return Outcome(
            status: process.terminationStatus,
            output: (try? String(contentsOf: stdout, encoding: .utf8)) ?? "",
            errors: (try? String(contentsOf: stderr, encoding: .utf8)) ?? "")
    }

    /// `curl` over HTTPS trusting only `caFile`; the output is the status code (`000` when no
    /// HTTP answer came), and curl exits 60 when the certificate is not trusted.
    static func https(_ port: Int, _ path: String, trusting caFile: String, host: String = "127.0.0.1", token: String? = nil) async throws -> Outcome {
        var arguments = ["-sS", "--max-time", "5", "--cacert", caFile, "-o", "/dev/null", "-w", "%{http_code}"]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        if host != "127.0.0.1" { arguments += ["--resolve", "\(host):\(port):127.0.0.1"] }
        arguments.append("https://\(host):\(port)\(path)")
        return try await Self.curl(arguments)
    }

    static func curl(_ arguments: [String]) async throws -> Outcome {
        try await Self.execute(["/usr/bin/curl"] + arguments)
    }

    /// The port from a `listening` log line for any address.
    static func port(of rotor: RunningRotor, host: String) async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            for line in rotor.errors.split(separator: "\n") where line.contains("listening") && line.contains("address=\(host):") {
                if let match = line.firstMatch(of: /address=[^ ]*:(\d+)/), let port = Int(match.output.1) { return port }
            }
            guard rotor.process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("no listening line for \(host); stderr: \(rotor.errors)")
        throw CancellationError()
    }

    private func serve(_ pki: PKI, certificate: String = "server.pem", key: String = "server.key", extra: [String: String] = [:]) throws -> RunningRotor {
        try RunningRotor(
            arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", pki.path("data")],
            environment: Self.environment.merging(["ROTOR_TLS_CERT_FILE": pki.path(certificate), "ROTOR_TLS_KEY_FILE": pki.path(key)].merging(extra) { $1 }) {
                $1
            })
    }

    @Test("with a certificate and key, serve answers HTTPS (health and an authenticated route) and gives plain HTTP no HTTP answer")
    func servesHTTPS() async throws {
        let pki = try PKI()
        try await pki.makeCA("ca")
        try await pki.makeServer("server", signedBy: "ca")
        let rotor = try self.serve(pki)
        let port = try await rotor.port()
        #expect(rotor.errors.contains("tls=on"))

        let health = try await Self.https(port, "/healthz", trusting: pki.path("ca.pem"))
        #expect(health.status == 0 && health.output == "200", "\(health)")
        let byName = try await Self.https(port, "/healthz", trusting: pki.path("ca.pem"), host: "localhost")
        #expect(byName.status == 0 && byName.output == "200", "\(byName)")
        let whoami = try await Self.https(port, "/v1/whoami", trusting: pki.path("ca.pem"), token: ServeConfigurationTests.token)
        #expect(whoami.status == 0 && whoami.output == "200", "\(whoami)")
        let anonymous = try await Self.https(port, "/v1/whoami", trusting: pki.path("ca.pem"))
        #expect(anonymous.output == "401", "\(anonymous)")

        // Plain HTTP to the TLS port: no HTTP answer at all, so no token is ever read in clear.
        let plain = try await Self.curl(["-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/healthz"])
        #expect(plain.status != 0 && plain.output == "000", "\(plain)")
        // The server survives it.
        #expect(try await Self.https(port, "/healthz", trusting: pki.path("ca.pem")).output == "200")

        rotor.process.terminate()
        #expect(try await rotor.exitStatus() == 0)
    }

    @Test("a key that is not the certificate's, or a file that is not PEM, stops serve with 78, naming the file and quoting none")
    func badPairRefused() async throws {
        let pki = try PKI()
        try await pki.makeCA("ca")
        try await pki.makeServer("one", signedBy: "ca")
        try await pki.makeServer("two", signedBy: "ca")
        try await pki.makeServer("expired", signedBy: "ca", days: -1)
        try Data("not a certificate\n".utf8).write(to: pki.directory.appendingPathComponent("garbage.pem"))
        let keyBody = try String(contentsOfFile: pki.path("two.key"), encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("-----") }
        #expect(!keyBody.isEmpty)

        let mismatched = try self.serve(pki, certificate: "one.pem", key: "two.key")
        #expect(try await mismatched.exitStatus() == 78)
        #expect(mismatched.errors.contains("ROTOR_TLS_KEY_FILE '\(pki.path("two.key"))' does not hold the private key of the certificate in '\(pki.path("one.pem"))'"), "\(mismatched.errors)")

        let garbage = try self.serve(pki, certificate: "garbage.pem", key: "nonexistent.key")
        #expect(try await garbage.exitStatus() == 78)
        #expect(garbage.errors.contains("ROTOR_TLS_CERT_FILE '\(pki.path("garbage.pem"))' holds no PEM certificate"), "\(garbage.errors)")
        #expect(garbage.errors.contains("ROTOR_TLS_KEY_FILE '\(pki.path("nonexistent.key"))' cannot be read"), "\(garbage.errors)")

        // A key given as the certificate, and the other way round.
        let swapped = try self.serve(pki, certificate: "two.key", key: "two.pem")
        #expect(try await swapped.exitStatus() == 78)
        #expect(swapped.errors.contains("ROTOR_TLS_CERT_FILE '\(pki.path("two.key"))' holds no PEM certificate"), "\(swapped.errors)")
        #expect(swapped.errors.contains("ROTOR_TLS_KEY_FILE '\(pki.path("two.pem"))' holds no unencrypted PEM private key"), "\(swapped.errors)")

        let expired = try self.serve(pki, certificate: "expired.pem", key: "expired.key")
        #expect(try await expired.exitStatus() == 78)
        #expect(expired.errors.contains("ROTOR_TLS_CERT_FILE '\(pki.path("expired.pem"))' holds a certificate that expired at"), "\(expired.errors)")

        for rotor in [mismatched, garbage, swapped, expired] {
            #expect(!rotor.errors.contains("-----END"))
            #expect(!keyBody.contains { rotor.errors.contains($0) })
            #expect(!rotor.errors.contains("listening"))
        }

        let onlyCertificate = try RunningRotor(
            arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", pki.path("data")],
            environment: Self.environment.merging(["ROTOR_TLS_CERT_FILE": pki.path("one.pem")]) { $1 })
        #expect(try await onlyCertificate.exitStatus() == 78)
        #expect(onlyCertificate.errors.contains("ROTOR_TLS_KEY_FILE is not"), "\(onlyCertificate.errors)")
    }

    @Test("a non-loopback listen address without TLS is refused (78) unless ROTOR_ALLOW_PLAINTEXT=1; with TLS it starts")
    func plaintextOnlyOnLoopback() async throws {
        let pki = try PKI()
        for address in ["0.0.0.0:0", "[::]:0", ":0"] {
            let refused = try RunningRotor(arguments: ["serve", "--listen", address, "--data-dir", pki.path("data")], environment: Self.environment)
            #expect(try await refused.exitStatus() == 78, "\(address)")
            #expect(refused.errors.contains("is not a loopback address"), "\(address): \(refused.errors)")
            #expect(refused.errors.contains("ROTOR_TLS_CERT_FILE") && refused.errors.contains("ROTOR_ALLOW_PLAINTEXT=1"), "\(refused.errors)")
            #expect(!refused.errors.contains("listening"))
        }

        let allowed = try RunningRotor(
            arguments: ["serve", "--listen", "0.0.0.0:0", "--data-dir", pki.path("data")],
            environment: Self.environment.merging(["ROTOR_ALLOW_PLAINTEXT": "1"]) { $1 })
        let port = try await Self.port(of: allowed, host: "0.0.0.0")
        #expect(allowed.errors.contains("serving plain HTTP on a non-loopback address"))
        let health = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz"), timeout: .seconds(30))
        #expect(health.status == .ok)
        allowed.process.terminate()
        #expect(try await allowed.exitStatus() == 0)

        try await pki.makeCA("ca")
        try await pki.makeServer("server", signedBy: "ca")
        let secured = try RunningRotor(
            arguments: ["serve", "--listen", "0.0.0.0:0", "--data-dir", pki.path("data")],
            environment: Self.environment.merging(["ROTOR_TLS_CERT_FILE": pki.path("server.pem"), "ROTOR_TLS_KEY_FILE": pki.path("server.key")]) { $1 })
        let securedPort = try await Self.port(of: secured, host: "0.0.0.0")
        #expect(try await Self.https(securedPort, "/healthz", trusting: pki.path("ca.pem")).output == "200")
        #expect(!secured.errors.contains("serving plain HTTP"))
        secured.process.terminate()
        #expect(try await secured.exitStatus() == 0)
    }

    @Test("SIGHUP reloads the pair: new connections get the new certificate; a bad new pair is logged and the old one stays")
    func reloadOnHangup() async throws {
        let pki = try PKI()
        try await pki.makeCA("old-ca")
        try await pki.makeCA("new-ca")
        try await pki.makeServer("old", signedBy: "old-ca")
        try await pki.makeServer("new", signedBy: "new-ca")
        try pki.install("old.pem", as: "cert.pem")
        try pki.install("old.key", as: "key.pem")
        // GitHub's keys reload on SIGHUP too: one signal must reach both.
        try await Self.run("/usr/bin/openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", pki.path("github.key"))
        try await Self.run("/usr/bin/openssl", "ec", "-in", pki.path("github.key"), "-pubout", "-out", pki.path("github.pub"))
        let githubKey = try String(contentsOfFile: pki.path("github.pub"), encoding: .utf8)
        try JSONSerialization.data(withJSONObject: ["public_keys": [["key_identifier": "k1", "key": githubKey, "is_current": true]]])
            .write(to: pki.directory.appendingPathComponent("github-keys.json"))
        let rotor = try self.serve(pki, certificate: "cert.pem", key: "key.pem", extra: ["ROTOR_GITHUB_KEYS_FILE": pki.path("github-keys.json")])
        let port = try await rotor.port()
        #expect(try await Self.https(port, "/healthz", trusting: pki.path("old-ca.pem")).output == "200")
        #expect(try await Self.https(port, "/healthz", trusting: pki.path("new-ca.pem")).status == 60)  // not trusted

        // A renewal that writes a bad pair (new certificate, old key): the old pair stays.
        try pki.install("new.pem", as: "cert.pem")
        kill(rotor.process.processIdentifier, SIGHUP)
        try await Poll.until("the failed reload is logged") { rotor.errors.contains("could not be reloaded") }
        #expect(rotor.process.isRunning)
        #expect(try await Self.https(port, "/healthz", trusting: pki.path("old-ca.pem")).output == "200")

        // The matching key arrives: the next SIGHUP switches new connections to the new certificate.
        try pki.install("new.key", as: "key.pem")
        kill(rotor.process.processIdentifier, SIGHUP)
        try await Poll.until("new connections get the new certificate") {
            try await Self.https(port, "/healthz", trusting: pki.path("new-ca.pem")).output == "200"
        }
        // Lines below `warning` may reach the log up to 10 ms after the fact.
        try await Poll.until("the reload is logged") { rotor.errors.contains("TLS certificate reloaded") }
        try await Poll.until("both SIGHUPs reloaded GitHub's keys too") {
            rotor.errors.matches(of: /reason=SIGHUP \[rotor\] GitHub secret-scanning keys reloaded/).count == 2
        }
        #expect(try await Self.https(port, "/healthz", trusting: pki.path("old-ca.pem")).status == 60)
        // The served certificate is the new one, by its serial number.
        let served = try await Self.run("/bin/sh", "-c", "/usr/bin/openssl s_client -connect 127.0.0.1:\(port) </dev/null 2>/dev/null | /usr/bin/openssl x509 -noout -serial")
        #expect(served.output.lowercased().contains("serial=" + "new".utf8.map { String(format: "%02x", $0) }.joined()), "\(served.output)")
        #expect(!rotor.errors.contains("-----END"))

        rotor.process.terminate()
        #expect(try await rotor.exitStatus() == 0)
    }
}

/// Which listen addresses count as loopback, so that plain HTTP is allowed on them.
@Suite struct ListenAddressLoopbackTests {
    @Test(arguments: [
        ("127.0.0.1:8080", true), ("127.1.2.3:1", true), ("localhost:8080", true), ("LOCALHOST:1", true), ("[::1]:8080", true),
        ("[::ffff:127.0.0.1]:1", true), ("[0:0:0:0:0:0:0:1]:1", true),
        ("0.0.0.0:8080", false), (":8080", false), ("[::]:8080", false), ("10.0.0.5:8080", false), ("128.0.0.1:1", false),
        ("example.com:443", false), ("localhost.example.com:1", false), ("[::2]:1", false),
    ])
    func loopback(_ text: String, _ expected: Bool) throws {
        #expect(try #require(ListenAddress(text)).isLoopback == expected)
    }
}
