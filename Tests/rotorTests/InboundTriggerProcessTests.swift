import AsyncHTTPClient
import ChildProcess
import Foundation
import NIOCore
import NIOHTTP1
import RotorAPI
import RotorCrypto
@testable import rotor
import Testing

/// `ROTOR_GITHUB_KEYS_FILE`, and the signed inbound routes of the real `rotor` binary.
@Suite(.timeLimit(.minutes(1))) struct InboundTriggerProcessTests {
    /// A directory with an `openssl`-made P-256 key (`key.pem`) and GitHub's public-keys JSON
    /// listing it (`github-keys.json`, identifier `test-key`).
    static func makeGitHubKeys() async throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-ghkeys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try await Spawned.openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem"], in: directory.path)
        try await Spawned.openssl(["ec", "-in", "key.pem", "-pubout", "-out", "pub.pem"], in: directory.path)
        let pem = try String(contentsOf: directory.appendingPathComponent("pub.pem"), encoding: .utf8)
        let json = try JSONSerialization.data(withJSONObject: ["public_keys": [["key_identifier": "test-key", "key": pem, "is_current": true]]])
        try json.write(to: directory.appendingPathComponent("github-keys.json"))
        return directory
    }

    /// `openssl dgst -sha256 -sign`, base64 of the DER signature.
    static func sign(_ body: [UInt8], in directory: URL) async throws -> String {
        try Data(body).write(to: directory.appendingPathComponent("body"))
        try await Spawned.openssl(["dgst", "-sha256", "-sign", "key.pem", "-out", "body.sig", "body"], in: directory.path)
        return try Data(contentsOf: directory.appendingPathComponent("body.sig")).base64EncodedString()
    }

    @Test("ROTOR_GITHUB_KEYS_FILE: unset leaves the intake off; a valid file is loaded; a bad one is reported")
    func configuration() async throws {
        let keys = try await Self.makeGitHubKeys()
        defer { try? FileManager.default.removeItem(at: keys) }
        let data = keys.appendingPathComponent("data").path
        let base = ["ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token, "ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey, "ROTOR_DATA_DIR": data]
        #expect(try ServeConfiguration.resolve(flags: ServeFlags(), environment: base).githubKeys == nil)
        let loaded = try ServeConfiguration.resolve(
            flags: ServeFlags(), environment: base.merging(["ROTOR_GITHUB_KEYS_FILE": keys.appendingPathComponent("github-keys.json").path]) { $1 })
        #expect(loaded.githubKeys?.identifiers == ["test-key"])
        for bad in [keys.appendingPathComponent("pub.pem").path, keys.appendingPathComponent("missing.json").path] {
            do {
                _ = try ServeConfiguration.resolve(flags: ServeFlags(), environment: base.merging(["ROTOR_GITHUB_KEYS_FILE": bad]) { $1 })
                Issue.record("a bad key file was accepted")
            } catch {
                #expect(error.problems.count == 1)
                #expect(error.problems.first?.contains("ROTOR_GITHUB_KEYS_FILE") == true)
            }
        }
    }

    @Test("serve --sandbox: a signed hook and a GitHub leak report each rotate the registered key; the leak's job has grace 0")
    func sandbox() async throws {
        let keys = try await Self.makeGitHubKeys()
        defer { try? FileManager.default.removeItem(at: keys) }
        let rotor = try RotorProcessTests.RunningRotor(
            arguments: ["serve", "--sandbox", "--listen", "127.0.0.1:0", "--data-dir", keys.appendingPathComponent("data").path],
            environment: ["ROTOR_RETRY_BASE": "PT0.05S", "ROTOR_GITHUB_KEYS_FILE": keys.appendingPathComponent("github-keys.json").path]
        )
        let port = try await rotor.port()
        let token = String(try #require(rotor.output.firstMatch(of: /admin token: (rtr_\S+)/)?.output.1))
        let key = String(try #require(rotor.output.firstMatch(of: /sandbox Vultr API key to register as a credential: (\S+)/)?.output.1))
        func call(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> (HTTPResponseStatus, [String: Any]) {
            try await RotorProcessTests.api(port: port, token: token, method, path, body)
        }
        func post(_ path: String, _ body: [UInt8], _ headers: [(String, String)]) async throws -> (HTTPResponseStatus, Any?) {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
            request.method = .POST
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            request.body = .bytes(ByteBuffer(bytes: body))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            return (response.status, try? JSONSerialization.jsonObject(with: Data(String(buffer: bytes).utf8)))
        }

        let (_, credential) = try await call(.POST, "/v1/credentials", #"{"name":"sandbox","provider":"vultr","secret":"\#(key)","targets":[]}"#)
        let credentialID = try #require(credential["id"] as? String)

        // GitHub reports the registered key: an emergency rotation with grace 0.
        let report = Array(try JSONSerialization.data(withJSONObject: [["token": key, "type": "vultr_api_key", "url": "https://github.com/o/r/blob/1/.env", "source": "content"]]))
        func signed(_ body: [UInt8]) async throws -> [(String, String)] {
            [("Github-Public-Key-Identifier", "test-key"), ("Github-Public-Key-Signature", try await Self.sign(body, in: keys)), ("Content-Type", "application/json")]
        }
        let (leakStatus, leakLabels) = try await post("/v1/leaks/github", report, try await signed(report))
        #expect(leakStatus == .ok)
        #expect((leakLabels as? [[String: Any]])?.first?["label"] as? String == "true_positive")
        #expect((leakLabels as? [[String: Any]])?.first?["token_hash"] as? String == SHA256.hexDigest(key))
        let (_, leakJobs) = try await call(.GET, "/v1/jobs?credential_id=\(credentialID)")
        let leakJob = try #require((leakJobs["data"] as? [[String: Any]])?.first)
        #expect((leakJob["trigger"] as? [String: String])?["kind"] == "leak")
        #expect(leakJob["grace_period"] as? String == "PT0S")
        let (_, leakDone) = try await call(.GET, "/v1/jobs/\(try #require(leakJob["id"] as? String))?wait=PT20S")
        #expect(leakDone["state"] as? String == "succeeded")
        // Rotated away, the same token is no longer a managed key.
        let (_, again) = try await post("/v1/leaks/github", report, try await signed(report))
        #expect((again as? [[String: Any]])?.first?["label"] as? String == "false_positive")

        // A Standard-Webhooks-signed hook rotates it again.
        let (created, trigger) = try await call(.POST, "/v1/triggers", #"{"credential_ids":["\#(credentialID)"]}"#)
        #expect(created == .created)
        let triggerID = try #require(trigger["id"] as? String)
        let secret = try WebhookSecret(encoded: try #require(trigger["secret"] as? String))
        let payload = Array(#"{"event":"deploy"}"#.utf8)
        let timestamp = Int(Date().timeIntervalSince1970)
        let signature = StandardWebhooks.sign(id: "msg_1", timestamp: timestamp, body: payload, secret: secret)
        let (hookStatus, hook) = try await post("/v1/hooks/\(triggerID)", payload, [("webhook-id", "msg_1"), ("webhook-timestamp", String(timestamp)), ("webhook-signature", signature)])
        #expect(hookStatus == .accepted)
        let hookJob = try #require(((hook as? [String: Any])?["jobs"] as? [[String: Any]])?.first?["id"] as? String)
        let (_, hookDone) = try await call(.GET, "/v1/jobs/\(hookJob)?wait=PT20S")
        #expect(hookDone["state"] as? String == "succeeded")
        #expect((hookDone["trigger"] as? [String: String]) == ["kind": "webhook", "source": triggerID])
        let (_, after) = try await call(.GET, "/v1/credentials/\(credentialID)")
        #expect(after["version"] as? Int == 3)

        let forged = try await post("/v1/leaks/github", report, [("Github-Public-Key-Identifier", "test-key"), ("Github-Public-Key-Signature", try await Self.sign(Array("other".utf8), in: keys)), ("Content-Type", "application/json")])
        #expect(forged.0 == .unauthorized)
        #expect(!rotor.errors.contains(key))
        rotor.process.terminate()
        #expect(try await rotor.exitStatus() == 0)
    }

    @Test("ROTOR_GITHUB_KEYS_FILE is read again on SIGHUP and when it changes; a file that does not parse keeps the keys in force")
    func reloadKeys() async throws {
        let first = try await Self.makeGitHubKeys()
        let second = try await Self.makeGitHubKeys()
        defer {
            try? FileManager.default.removeItem(at: first)
            try? FileManager.default.removeItem(at: second)
        }
        // The second key set names its key differently, as GitHub's next key would be.
        let secondJSON = try String(contentsOf: second.appendingPathComponent("github-keys.json"), encoding: .utf8)
            .replacingOccurrences(of: "\"test-key\"", with: "\"next-key\"")
        let live = first.appendingPathComponent("live.json")
        func install(_ text: String) throws {
            // As Kubernetes updates a mounted secret: a new file renamed over the old.
            let staged = first.appendingPathComponent("staged.json")
            try Data(text.utf8).write(to: staged)
            _ = rename(staged.path, live.path)
        }
        try install(try String(contentsOf: first.appendingPathComponent("github-keys.json"), encoding: .utf8))
        let rotor = try RotorProcessTests.RunningRotor(
            arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", first.appendingPathComponent("data").path],
            environment: [
                "ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token, "ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey,
                "ROTOR_GITHUB_KEYS_FILE": live.path,
            ])
        defer { if rotor.process.isRunning { rotor.process.terminate() } }
        let port = try await rotor.port()
        let report = Array(#"[{"token":"not-a-managed-key","type":"vultr_api_key","url":"https://github.com/o/r","source":"content"}]"#.utf8)
        func status(signedWith directory: URL, as identifier: String) async throws -> HTTPResponseStatus {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/leaks/github")
            request.method = .POST
            request.headers.add(name: "Github-Public-Key-Identifier", value: identifier)
            request.headers.add(name: "Github-Public-Key-Signature", value: try await Self.sign(report, in: directory))
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: report))
            return try await HTTPClient.shared.execute(request, timeout: .seconds(10)).status
        }
        func eventually(_ expected: HTTPResponseStatus, signedWith directory: URL, as identifier: String) async throws -> Bool {
            for _ in 0..<100 {
                if try await status(signedWith: directory, as: identifier) == expected { return true }
                try await Task.sleep(for: .milliseconds(100))
            }
            return false
        }

        #expect(try await status(signedWith: first, as: "test-key") == .ok)
        #expect(try await status(signedWith: second, as: "next-key") == .unauthorized)

        // SIGHUP: the new file is read at once.
        try install(secondJSON)
        kill(rotor.process.processIdentifier, SIGHUP)
        #expect(try await eventually(.ok, signedWith: second, as: "next-key"), "the new key was not trusted after SIGHUP")
        #expect(try await status(signedWith: first, as: "test-key") == .unauthorized)

        // A broken file changes nothing, on SIGHUP or on its own.
        try install("{ not json")
        kill(rotor.process.processIdentifier, SIGHUP)
        try await Task.sleep(for: .seconds(3))
        #expect(try await status(signedWith: second, as: "next-key") == .ok)
        #expect(rotor.process.isRunning)

        // Without a signal: a changed file is noticed within a few seconds.
        try install(try String(contentsOf: first.appendingPathComponent("github-keys.json"), encoding: .utf8))
        #expect(try await eventually(.ok, signedWith: first, as: "test-key"), "a changed file was not read again")

        rotor.process.terminate()
        #expect(try await rotor.exitStatus() == 0)
        #expect(rotor.errors.contains("could not be reloaded"))
    }
}
