import AsyncHTTPClient
import FakeVultr
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// DESIGN.md §2: a `kill -9` at any instant loses no key and leaves no orphan. The fake Vultr
/// runs in the test process, so it outlives the killed `rotor`.
@Suite(.timeLimit(.minutes(2))) struct CrashTests {
    static let environment = [
        "ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token,
        "ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey,
        "ROTOR_RETRY_BASE": "PT0.05S",
        "ROTOR_RETRY_MAX": "PT0.2S",
    ]

    private func call(_ port: Int, _ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> [String: Any] {
        try await RotorProcessTests.api(port: port, token: ServeConfigurationTests.token, method, path, body).1
    }

    @Test("kill -9 during a provider call; after a restart the job succeeds and the provider holds exactly the new key", arguments: [
        FakeVultr.Operation.list, .create, .account, .delete,
    ])
    func killDuring(operation: FakeVultr.Operation) async throws {
        let fake = FakeVultr(configuration: .init(rateLimitPerSecond: nil))
        try await fake.run { vultrURL in
            let (userID, vultrKey) = fake.addUser()
            let oldKeyID = fake.keys(ofUser: userID)[0].id
            let dataDirectory = NSTemporaryDirectory() + "rotor-crash-\(UUID().uuidString)"
            var environment = Self.environment
            environment["ROTOR_VULTR_BASE_URL"] = vultrURL
            let arguments = ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory]

            let first = try RotorProcessTests.RunningRotor(arguments: arguments, environment: environment)
            let port = try await first.port()
            let credential = try await self.call(port, .POST, "/v1/credentials", #"{"name":"crash","provider":"vultr","secret":"\#(vultrKey)","targets":[]}"#)
            let credentialID = try #require(credential["id"] as? String, "\(credential)")

            // The kill lands while this call is in flight at the provider.
            let before = fake.requestCounts(operation).received
            fake.setLatency(.milliseconds(800), on: operation)
            let job = try await self.call(port, .POST, "/v1/jobs", #"{"credential_id":"\#(credentialID)"}"#)
            let jobID = try #require(job["id"] as? String)
            let deadline = ContinuousClock.now + .seconds(20)
            while fake.requestCounts(operation).received == before {
                guard ContinuousClock.now < deadline else { Issue.record("the job never called \(operation)"); return }
                try await Task.sleep(for: .milliseconds(5))
            }
            kill(first.process.processIdentifier, SIGKILL)
            _ = try await first.exitStatus()
            if operation == .create {
                // The provider finishes the create after Rotor died: its answer, and the only
                // copy of the new key's plaintext, are lost (rule 2).
                while fake.requestCounts(.create).succeeded == 0 { try await Task.sleep(for: .milliseconds(5)) }
            }
            fake.clearFaults()

            let second = try RotorProcessTests.RunningRotor(arguments: arguments, environment: environment)
            let restartedPort = try await second.port()
            let finished = try await self.call(restartedPort, .GET, "/v1/jobs/\(jobID)?wait=PT30S")
            #expect(finished["state"] as? String == "succeeded", "\(finished)")
            let newKeyID = (finished["new_key"] as? [String: Any])?["provider_key_id"] as? String
            let keys = fake.keys(ofUser: userID)
            #expect(keys.map(\.id) == [newKeyID].compactMap { $0 }, "keys at the provider: \(keys)")
            #expect(fake.key(id: oldKeyID) == nil)
            let stored = try await self.call(restartedPort, .GET, "/v1/credentials/\(credentialID)")
            #expect((stored["current"] as? [String: Any])?["provider_key_id"] as? String == newKeyID)
            #expect(stored["version"] as? Int == 2)
            second.process.terminate()
            #expect(try await second.exitStatus() == 0)

            // Neither key's plaintext is in the database files, nor in any log line.
            let plaintexts = [vultrKey] + keys.map(\.secret)
            for name in ["rotor.sqlite", "rotor.sqlite-wal", "rotor.sqlite-shm"] {
                guard let bytes = FileManager.default.contents(atPath: dataDirectory + "/" + name) else { continue }
                for plaintext in plaintexts {
                    #expect(bytes.range(of: Data(plaintext.utf8)) == nil, "\(name) contains a key")
                    #expect(bytes.range(of: Data(Data(plaintext.utf8).base64EncodedString().utf8)) == nil, "\(name) contains a key in base64")
                }
            }
            for plaintext in plaintexts {
                #expect(!first.errors.contains(plaintext) && !second.errors.contains(plaintext))
                #expect(!first.output.contains(plaintext) && !second.output.contains(plaintext))
            }
            let mode = try FileManager.default.attributesOfItem(atPath: dataDirectory + "/rotor.sqlite")[.posixPermissions] as? Int
            #expect(mode == 0o600)
            try? FileManager.default.removeItem(atPath: dataDirectory)
        }
    }
}
