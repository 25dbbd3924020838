import ChildProcess
import FakeProviders
import Foundation
import NIOHTTP1
import Testing

extension CrashTests {
    /// Issue 15: the definitions shipped in `providers/` keep the crash guarantees of the built-in
    /// Vultr one. `rotor serve` loads one from `ROTOR_PROVIDERS_DIR` (its `base_url` aimed at a
    /// fake of that provider, which lives in the test and so survives the kill); kill -9 while its
    /// create or revoke is in flight, restart, and the job succeeds with exactly the new key at the
    /// provider: a create whose answer the kill lost is found by name and deleted, not left behind.
    /// Nested in ``CrashTests`` to be serialized with the other kill -9 cases.
    @Suite struct ShippedKillTests {
        /// Each shipped shape, with the account id its definition needs (Scaleway's is fixed in
        /// the file, as `providers/scaleway.yaml` says).
        static let shipped: [(shape: KeyAPIShape, account: String?)] = [(.linode, nil), (.sendgrid, nil), (.scaleway, "00000000-0000-4000-8000-000000000000")]

        @Test("kill -9 during a shipped definition's create or revoke; after a restart the job succeeds with exactly the new key",
              arguments: ["linode", "sendgrid", "scaleway"], [FakeKeyAPI.Operation.create, .delete])
        func killDuring(provider: String, operation: FakeKeyAPI.Operation) async throws {
            let (shape, accountID) = try #require(Self.shipped.first { $0.shape.name == provider })
            let fake = FakeKeyAPI(shape, rateLimited: false)
            try await fake.run { baseURL in
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-shipped-kill-\(UUID().uuidString)")
                defer { try? FileManager.default.removeItem(at: directory) }
                let definitions = directory.appendingPathComponent("providers")
                try FileManager.default.createDirectory(at: definitions, withIntermediateDirectories: true)
                try Data(try shape.shippedDefinition(baseURL: baseURL).utf8).write(to: definitions.appendingPathComponent("\(provider).yaml"))
                let arguments = ["serve", "--listen", "127.0.0.1:0", "--data-dir", directory.appendingPathComponent("data").path]
                let environment = CrashTests.environment.merging(["ROTOR_PROVIDERS_DIR": definitions.path]) { $1 }

                var rotor = try RotorProcessTests.RunningRotor(arguments: arguments, environment: environment)
                var port = try await rotor.port()
                func call(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> [String: Any] {
                    try await RotorProcessTests.api(port: port, token: ServeConfigurationTests.token, method, path, body).1
                }

                let (account, oldKeyID, oldSecret) = fake.addAccount(id: accountID)
                // None of the three lists a key's tail: the key is named by its id.
                let credential = try await call(
                    .POST, "/v1/credentials",
                    #"{"name":"workload","provider":"\#(provider)","secret":"\#(oldSecret)","targets":[],"provider_key_id":"\#(oldKeyID)"}"#)
                let credentialID = try #require(credential["id"] as? String, "\(credential)")
                let before = fake.requestCounts(operation).received
                fake.setLatency(.milliseconds(800), on: operation)
                let job = try await call(.POST, "/v1/jobs", #"{"credential_id":"\#(credentialID)"}"#)
                let jobID = try #require(job["id"] as? String, "\(job)")
                let deadline = ContinuousClock.now + .seconds(20)
                while fake.requestCounts(operation).received == before {
                    try #require(ContinuousClock.now < deadline, "the job never called \(operation)")
                    try await Task.sleep(for: .milliseconds(5))
                }
                kill(rotor.process.processIdentifier, SIGKILL)
                _ = try await rotor.exitStatus()
                if operation == .create {
                    // The create lands after Rotor died: its answer, with the plaintext, is lost.
                    while fake.requestCounts(.create).succeeded == 0 {
                        try #require(ContinuousClock.now < deadline, "the create never completed")
                        try await Task.sleep(for: .milliseconds(5))
                    }
                }
                fake.clearFaults()
                rotor = try RotorProcessTests.RunningRotor(arguments: arguments, environment: environment)
                port = try await rotor.port()

                let finished = try await call(.GET, "/v1/jobs/\(jobID)?wait=PT30S")
                #expect(finished["state"] as? String == "succeeded", "\(finished)")
                let stored = try await call(.GET, "/v1/credentials/\(credentialID)")
                let currentID = (stored["current"] as? [String: Any])?["provider_key_id"] as? String
                let keys = fake.keys(ofAccount: account)
                #expect(keys.map(\.id) == [currentID].compactMap { $0 }, "keys at the provider: \(keys)")
                #expect(currentID != oldKeyID)
                rotor.process.terminate()
                #expect(try await rotor.exitStatus() == 0)
            }
        }
    }
}
