import ChildProcess
import Foundation
import GRDB
import NIOHTTP1
import Testing

/// `rotor audit verify` on the real binary, against a database a real server wrote.
@Suite(.timeLimit(.minutes(1))) struct AuditProcessTests {
    @Test("audit verify: exit 0 with the count when intact; names the edited entry and exits 1 after one row is changed")
    func verify() async throws {
        let dataDirectory = NSTemporaryDirectory() + "rotor-audit-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let environment = ["ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token, "ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey]
        let rotor = try RotorProcessTests.RunningRotor(
            arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory], environment: environment)
        let port = try await rotor.port()
        func call(_ method: HTTPMethod, _ path: String, _ body: String? = nil, token: String = ServeConfigurationTests.token) async throws
            -> (HTTPResponseStatus, [String: Any])
        {
            try await RotorProcessTests.api(port: port, token: token, method, path, body)
        }

        // Three audited writes: a token made, used by nobody, revoked; a subscription.
        let (created, token) = try await call(.POST, "/v1/tokens", #"{"name":"ci","scopes":["jobs:read"]}"#)
        #expect(created == .created)
        let tokenID = try #require(token["id"] as? String)
        let value = try #require(token["token"] as? String)
        #expect(try await call(.GET, "/v1/whoami", token: value).0 == .ok)
        #expect(try await call(.GET, "/v1/audit", token: value).0 == .forbidden)
        #expect(try await call(.DELETE, "/v1/tokens/\(tokenID)").0 == .noContent)
        #expect(try await call(.GET, "/v1/whoami", token: value).0 == .unauthorized)
        let (subscribed, _) = try await call(.POST, "/v1/subscriptions", #"{"url":"https://example.com/events","events":["job.failed"]}"#)
        #expect(subscribed == .created)
        let (_, audit) = try await call(.GET, "/v1/audit")
        let entries = try #require(audit["data"] as? [[String: Any]])
        #expect(entries.compactMap { $0["action"] as? String } == ["token.create", "token.delete", "subscription.create"])
        rotor.process.terminate()
        #expect(try await rotor.exitStatus() == 0)

        let intact = try RotorProcessTests.RunningRotor(arguments: ["audit", "verify", "--data-dir", dataDirectory], environment: [:])
        #expect(try await intact.exitStatus() == 0)
        #expect(intact.output.contains("intact: 3 entries"), "\(intact.output) \(intact.errors)")

        let queue = try DatabaseQueue(path: dataDirectory + "/rotor.sqlite")
        try await queue.write { db in try db.execute(sql: "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2") }
        try queue.close()

        let broken = try RotorProcessTests.RunningRotor(arguments: ["audit", "verify", "--data-dir", dataDirectory], environment: [:])
        #expect(try await broken.exitStatus() == 1)
        #expect(broken.output.contains("entry 2"), "\(broken.output) \(broken.errors)")
        // Neither the token nor the admin token ever entered the log.
        let dump = try String(contentsOfFile: dataDirectory + "/rotor.sqlite", encoding: .isoLatin1)
        #expect(!dump.contains(value))
        #expect(!dump.contains(ServeConfigurationTests.token))
    }
}

/// Signed checkpoints against a cut tail, on the real binary: a server publishes them (in
/// `GET /v1/audit` and on its schedule), and `rotor audit verify` holds them against the log.
@Suite(.timeLimit(.minutes(2))) struct AuditCheckpointProcessTests {
    private static func verify(_ dataDirectory: String, _ extra: [String] = [], keyring: Bool = true) async throws -> RotorProcessTests.RunningRotor {
        let verify = try RotorProcessTests.RunningRotor(
            arguments: ["audit", "verify", "--data-dir", dataDirectory] + extra,
            environment: keyring ? ["ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey] : [:])
        _ = try await verify.exitStatus()
        return verify
    }

    private static func write(_ object: Any, to path: String) throws {
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    }

    @Test("a cut tail that the chain alone calls intact is named by a checkpoint from GET /v1/audit or the log; forged checkpoints are rejected")
    func cutTail() async throws {
        let dataDirectory = NSTemporaryDirectory() + "rotor-audit-cp-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let environment = [
            "ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token, "ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey,
            "ROTOR_AUDIT_CHECKPOINT_INTERVAL": "PT1S", "ROTOR_LOG_FORMAT": "json",
        ]
        let rotor = try RotorProcessTests.RunningRotor(
            arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory], environment: environment)
        let port = try await rotor.port()
        func call(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> (HTTPResponseStatus, [String: Any]) {
            try await RotorProcessTests.api(port: port, token: ServeConfigurationTests.token, method, path, body)
        }

        // Four audited writes, then the log with its checkpoint.
        for index in 0..<4 {
            let (created, _) = try await call(.POST, "/v1/tokens", #"{"name":"ci-\#(index)","scopes":["jobs:read"]}"#)
            #expect(created == .created)
        }
        let (listed, audit) = try await call(.GET, "/v1/audit")
        #expect(listed == .ok)
        let entries = try #require(audit["data"] as? [[String: Any]])
        #expect(entries.count == 4)
        let checkpoint = try #require(audit["checkpoint"] as? [String: Any], "GET /v1/audit has no checkpoint: \(audit)")
        #expect(checkpoint["seq"] as? Int == 4)
        #expect(checkpoint["hash"] as? String == entries.last?["hash"] as? String)
        #expect(checkpoint["key_id"] as? String == "master")
        #expect((checkpoint["mac"] as? String)?.count == 64)
        let fromAPI = dataDirectory + "/checkpoint-api.json"
        // The whole answer, as saved by a job that pulls the log.
        try Self.write(audit, to: fromAPI)

        // The schedule (every second here) publishes the head once, as one JSON log line.
        var logged: String?
        let deadline = ContinuousClock.now + .seconds(15)
        while logged == nil && ContinuousClock.now < deadline {
            logged = rotor.errors.split(separator: "\n").last { $0.contains("audit checkpoint signed") && $0.contains(#""seq":"4""#) }.map(String.init)
            if logged == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let line = try #require(logged, "no checkpoint log line for entry 4: \(rotor.errors)")
        let fromLog = dataDirectory + "/checkpoint-log.json"
        try Data(line.utf8).write(to: URL(fileURLWithPath: fromLog))
        try await Task.sleep(for: .milliseconds(1500))
        rotor.process.terminate()
        #expect(try await rotor.exitStatus() == 0)
        // An unchanged head is not signed again, however many intervals pass.
        let published = rotor.errors.split(separator: "\n").filter { $0.contains("audit checkpoint signed") && $0.contains(#""seq":"4""#) }
        #expect(published.count == 1, "the same head was published more than once: \(published)")

        // Untouched: both checkpoints verify.
        for file in [fromAPI, fromLog] {
            let intact = try await Self.verify(dataDirectory, ["--checkpoint", file])
            #expect(intact.process.terminationStatus == 0, "\(intact.output) \(intact.errors)")
            #expect(intact.output.contains("intact: 4 entries"), "\(intact.output) \(intact.errors)")
            #expect(intact.output.contains("checkpoint verified: entry 4"), "\(intact.output) \(intact.errors)")
        }
        // --checkpoint without a keyring cannot check the MAC, so it refuses.
        let keyless = try await Self.verify(dataDirectory, ["--checkpoint", fromAPI], keyring: false)
        #expect(keyless.process.terminationStatus == 78, "\(keyless.output) \(keyless.errors)")

        // A forged checkpoint: a changed mac, or a hash or seq changed under the old mac.
        var forgeries: [[String: Any]] = []
        var badMAC = checkpoint
        badMAC["mac"] = String(repeating: "0", count: 64)
        forgeries.append(badMAC)
        var badHash = checkpoint
        badHash["hash"] = try #require(entries.first?["hash"] as? String)
        forgeries.append(badHash)
        var badSeq = checkpoint
        badSeq["seq"] = 1
        forgeries.append(badSeq)
        for (index, forgery) in forgeries.enumerated() {
            let path = dataDirectory + "/forged-\(index).json"
            try Self.write(forgery, to: path)
            let rejected = try await Self.verify(dataDirectory, ["--checkpoint", path])
            #expect(rejected.process.terminationStatus == 1, "forgery \(index): \(rejected.output) \(rejected.errors)")
            #expect(rejected.output.contains("REJECTED"), "forgery \(index): \(rejected.output) \(rejected.errors)")
        }

        // A stored checkpoint whose MAC was changed is rejected by a plain verify with the keyring.
        let queue = try DatabaseQueue(path: dataDirectory + "/rotor.sqlite")
        let storedMAC = try await queue.read { db in try String.fetchOne(db, sql: "SELECT mac FROM audit_checkpoints WHERE seq = 4") }
        try await queue.write { db in try db.execute(sql: "UPDATE audit_checkpoints SET mac = ? WHERE seq = 4", arguments: [String(repeating: "1", count: 64)]) }
        let tampered = try await Self.verify(dataDirectory)
        #expect(tampered.process.terminationStatus == 1, "\(tampered.output) \(tampered.errors)")
        #expect(tampered.output.contains("REJECTED"), "\(tampered.output) \(tampered.errors)")
        try await queue.write { db in try db.execute(sql: "UPDATE audit_checkpoints SET mac = ? WHERE seq = 4", arguments: [storedMAC]) }

        // Cut the tail: entries 3 and 4 deleted. The stored checkpoint (of entry 4) still names it.
        try await queue.write { db in try db.execute(sql: "DELETE FROM audit_log WHERE seq >= 3") }
        let caught = try await Self.verify(dataDirectory, keyring: false)
        #expect(caught.process.terminationStatus == 1, "\(caught.output) \(caught.errors)")
        #expect(caught.output.contains("BROKEN at entry 3"), "\(caught.output) \(caught.errors)")
        #expect(caught.output.contains("tail was cut"), "\(caught.output) \(caught.errors)")

        // Delete the stored checkpoints too: the database alone now looks intact (the chain
        // cannot tell), and only a checkpoint kept elsewhere shows the cut.
        try await queue.write { db in try db.execute(sql: "DELETE FROM audit_checkpoints") }
        try queue.close()
        let fooled = try await Self.verify(dataDirectory)
        #expect(fooled.process.terminationStatus == 0, "\(fooled.output) \(fooled.errors)")
        #expect(fooled.output.contains("intact: 2 entries"), "\(fooled.output) \(fooled.errors)")
        for file in [fromAPI, fromLog] {
            let cut = try await Self.verify(dataDirectory, ["--checkpoint", file])
            #expect(cut.process.terminationStatus == 1, "\(cut.output) \(cut.errors)")
            #expect(cut.output.contains("BROKEN at entry 3"), "\(cut.output) \(cut.errors)")
            #expect(cut.output.contains("entries 3 to 4 were removed"), "\(cut.output) \(cut.errors)")
        }
    }
}
