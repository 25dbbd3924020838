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
