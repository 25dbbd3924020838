import AsyncHTTPClient
import ChildProcess
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// `rotor keyring` and the keyring check of `rotor serve`, run as an operator would.
@Suite(.timeLimit(.minutes(1))) struct KeyringProcessTests {
    typealias RunningRotor = RotorProcessTests.RunningRotor

    /// Runs a `rotor` command to its end.
    private func rotor(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String, errors: String) {
        let process = try RunningRotor(arguments: arguments, environment: environment)
        let status = try await process.exitStatus()
        return (status, process.output, process.errors)
    }

    private func keyring(_ path: String) throws -> (active: String, ids: [String]) {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        let keys = try #require(object["keys"] as? [[String: Any]])
        return (try #require(object["active"] as? String), keys.compactMap { $0["id"] as? String })
    }

    private func mode(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test("generate writes a one-key keyring with mode 0600 and refuses to overwrite it without --force; add makes a new key active")
    func generateAndAdd() async throws {
        let directory = NSTemporaryDirectory() + "rotor-keyring-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/keyring.json"

        let generated = try await self.rotor(["keyring", "generate", "--keyring-file", file, "--id", "kek-one"])
        #expect(generated.status == 0, "\(generated.errors)")
        #expect(try self.keyring(file) == ("kek-one", ["kek-one"]))
        #expect(try self.mode(file) == 0o600)
        let original = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(!generated.output.contains(try #require(String(data: original, encoding: .utf8)?.firstMatch(of: /"key" : "([^"]+)"/)?.output.1).description))

        let again = try await self.rotor(["keyring", "generate", "--keyring-file", file])
        #expect(again.status == 73)
        #expect(again.errors.contains("already exists"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == original)

        let added = try await self.rotor(["keyring", "add", "--id", "kek-two"], environment: ["ROTOR_KEYRING_FILE": file])
        #expect(added.status == 0, "\(added.errors)")
        #expect(try self.keyring(file) == ("kek-two", ["kek-one", "kek-two"]))
        #expect(try self.mode(file) == 0o600)

        let duplicate = try await self.rotor(["keyring", "add", "--id", "kek-two", "--keyring-file", file])
        #expect(duplicate.status == 65)
        let activeRemoval = try await self.rotor(["keyring", "remove", "kek-two", "--keyring-file", file, "--force"])
        #expect(activeRemoval.status == 65)
        #expect(activeRemoval.errors.contains("active"))

        let forced = try await self.rotor(["keyring", "generate", "--keyring-file", file, "--force", "--id", "kek-three"])
        #expect(forced.status == 0)
        #expect(try self.keyring(file) == ("kek-three", ["kek-three"]))

        // Moving from ROTOR_MASTER_KEY to a keyring file keeps the master key for opening.
        let imported = try await self.rotor(
            ["keyring", "generate", "--keyring-file", directory + "/from-master.json", "--id", "kek-file", "--import-master-key"],
            environment: ["ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey])
        #expect(imported.status == 0, "\(imported.errors)")
        #expect(try self.keyring(directory + "/from-master.json") == ("kek-file", ["master", "kek-file"]))
        let withoutMaster = try await self.rotor(["keyring", "generate", "--keyring-file", directory + "/none.json", "--import-master-key"])
        #expect(withoutMaster.status == 78)
        #expect(!FileManager.default.fileExists(atPath: directory + "/none.json"))
    }

    @Test("rewrap stopped part-way then finished online beside rotor serve while it writes; remove the old KEK; serve refuses (78) a keyring without the new one")
    func onlineRewrapRemoveAndRefusal() async throws {
        let dataDirectory = NSTemporaryDirectory() + "rotor-rewrap-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let keyringFile = dataDirectory + "/keyring.json"
        let serve = ["serve", "--sandbox", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory]

        // 1. Secrets sealed under the --dev keyring's first KEK.
        var server = try RunningRotor(arguments: serve, environment: [:])
        var port = try await server.port()
        var token = String(try #require(server.output.firstMatch(of: /admin token: (rtr_\S+)/)?.output.1))
        let key = try #require(server.output.firstMatch(of: /sandbox Vultr API key to register as a credential: (\S+)/)?.output.1)
        let (created, _) = try await RotorProcessTests.api(
            port: port, token: token, .POST, "/v1/credentials",
            #"{"name":"rewrapped","provider":"vultr","secret":"\#(key)","targets":[{"type":"webhook","url":"http://127.0.0.1:9/hook"}]}"#)
        #expect(created == .created)
        for index in 0..<5 {
            let (status, _) = try await RotorProcessTests.api(
                port: port, token: token, .POST, "/v1/subscriptions", #"{"url":"http://127.0.0.1:9/events/\#(index)","events":["job.succeeded"]}"#)
            #expect(status == .created)
        }
        let old = try self.keyring(keyringFile).active
        // The operator's backup of the keyring from before the rotation.
        let backup = dataDirectory + "/keyring-backup.json"
        try FileManager.default.copyItem(atPath: keyringFile, toPath: backup)

        // 2. A new KEK; the old one cannot be removed while secrets use it.
        let added = try await self.rotor(["keyring", "add", "--data-dir", dataDirectory, "--id", "kek-new"])
        #expect(added.status == 0, "\(added.errors)")
        let early = try await self.rotor(["keyring", "remove", old, "--data-dir", dataDirectory])
        #expect(early.status == 65)
        #expect(early.errors.contains("7 stored secret(s) are still sealed under \(old)"), "\(early.errors)")
        #expect(try self.keyring(keyringFile).ids == [old, "kek-new"])

        // 3. Stop, rewrap part of it offline, restart with the new keyring, then rewrap the rest
        //    while the server takes writes.
        server.process.terminate()
        #expect(try await server.exitStatus() == 0)
        let partial = try await self.rotor(["keyring", "rewrap", "--data-dir", dataDirectory, "--batch-size", "2", "--limit", "3"])
        #expect(partial.status == 75, "\(partial.output)\n\(partial.errors)")
        #expect(partial.output.contains("rewrapped 2/7 envelopes; 5 left under \(old)"), "\(partial.output)")
        #expect(partial.output.contains("rewrapped 3/7 envelopes; 4 left under \(old)"), "\(partial.output)")
        #expect(partial.errors.contains("run `rotor keyring rewrap` again"))
        server = try RunningRotor(arguments: serve, environment: [:])
        port = try await server.port()
        token = String(try #require(server.output.firstMatch(of: /admin token: (rtr_\S+)/)?.output.1))
        let rewrapping = Mutex(true)
        let writes = Task { [port, token] in
            var statuses: [HTTPResponseStatus] = []
            // Writes go on until rewrap has ended (at least 3, at most 40).
            while statuses.count < 3 || (statuses.count < 40 && rewrapping.withLock { $0 }) {
                let (status, _) = try await RotorProcessTests.api(
                    port: port, token: token, .POST, "/v1/subscriptions", #"{"url":"http://127.0.0.1:9/more/\#(statuses.count)","events":["job.failed"]}"#)
                statuses.append(status)
            }
            return statuses
        }
        let rewrap = try await self.rotor(["keyring", "rewrap", "--data-dir", dataDirectory, "--batch-size", "1"])
        rewrapping.withLock { $0 = false }
        let written = try await writes.value
        #expect(written.allSatisfy { $0 == .created })
        #expect(rewrap.status == 0, "\(rewrap.output)\n\(rewrap.errors)")
        // Only what the interrupted run left is touched.
        #expect(rewrap.output.contains("rewrapped 1/4 envelopes; 3 left under \(old)"), "\(rewrap.output)")
        #expect(rewrap.output.contains("rewrapped 4/4 envelopes; 0 left under \(old)"), "\(rewrap.output)")
        #expect(!rewrap.output.contains("/7 envelopes"))
        #expect(rewrap.output.contains("done: every stored secret is under kek-new"))
        let (listed, page) = try await RotorProcessTests.api(port: port, token: token, .GET, "/v1/subscriptions?limit=50")
        #expect(listed == .ok)
        #expect((page["data"] as? [Any])?.count == 5 + written.count)

        // 4. Nothing uses the old KEK: it goes, and every secret opens with the new keyring alone.
        let removed = try await self.rotor(["keyring", "remove", old, "--data-dir", dataDirectory])
        #expect(removed.status == 0, "\(removed.errors)")
        #expect(try self.keyring(keyringFile).ids == ["kek-new"])
        let verified = try await self.rotor(["keyring", "verify", "--data-dir", dataDirectory])
        #expect(verified.status == 0, "\(verified.errors)")
        #expect(verified.output.contains("\(7 + written.count) stored secret(s) open"), "\(verified.output)")
        server.process.terminate()
        #expect(try await server.exitStatus() == 0)

        // 5. The backup from before the rotation lacks kek-new: serve refuses, naming it.
        let refusal = try RunningRotor(
            arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory],
            environment: ["ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token, "ROTOR_KEYRING_FILE": backup])
        #expect(try await refusal.exitStatus() == 78)
        #expect(refusal.errors.contains("sealed under key-encryption key(s) kek-new"), "\(refusal.errors)")
        #expect(refusal.errors.contains("(keys: \(old))"), "\(refusal.errors)")
        #expect(!refusal.errors.contains("listening"))

        // With the current keyring it starts.
        let restarted = try RunningRotor(
            arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory],
            environment: ["ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token, "ROTOR_KEYRING_FILE": keyringFile])
        _ = try await restarted.port()
        restarted.process.terminate()
        #expect(try await restarted.exitStatus() == 0)
    }
}
