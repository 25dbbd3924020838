import ArgumentParser
import AsyncHTTPClient
import FakeVultr
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import RotorCore
import RotorCrypto
import RotorEngine
import RotorHTTP
import Synchronization
import RotorAssembly

/// `rotor demo`: one whole rotation, end to end, in one process.
///
/// A fake Vultr API, a webhook consumer, Rotor itself (API, store, engine) and an agent keeping a
/// workload's key file run on loopback; the demo talks to Rotor over HTTP exactly as a caller
/// would, follows the job to its end, prints the timeline, and checks what the rotation promises.
/// Any failed check exits non-zero.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Show a whole zero-downtime rotation against a fake Vultr API, end to end."
    )

    /// Which built-in provider the demo's credential names.
    enum DemoProvider: String, ExpressibleByArgument, CaseIterable {
        /// A user's key, managing its own keys.
        case vultr
        /// A sub-user's key, managed through a second credential: the account's root key.
        case vultrUser = "vultr-user"
    }

    @Option(help: "vultr (a user's own key) or vultr-user (a sub-user's key, rotated through a manager credential holding the account's root key).")
    var provider: DemoProvider = .vultr

    func run() async throws {
        LogFormat.text.bootstrap(level: .warning)
        let logger = Logger(label: "rotor-demo")
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-demo-\(UUID().uuidString)").path
        let directory = base + "/data"
        let workload = base + "/workload"
        try DataDirectory.prepare(directory)
        try DataDirectory.prepare(workload)
        defer { try? FileManager.default.removeItem(atPath: base) }

        let fake = FakeVultr()
        let (ownerID, ownerKey) = fake.addUser(name: "Demo", email: "demo@example.com")
        // With vultr-user, the rotated key is a sub-user's, and the owner's key manages it.
        let subUser = self.provider == .vultrUser ? fake.addSubUser(to: ownerID, name: "Demo workload", email: "workload@example.com") : nil
        let (userID, vultrKey) = subUser ?? (ownerID, ownerKey)
        let manager = subUser.map { _ in DemoRun.Manager(userID: ownerID, key: ownerKey) }
        let consumer = DemoConsumer()
        let adminToken = SecureRandom.token(prefix: "rtr_")
        let passed = try await fake.run { vultrURL in
            try await HTTPServer.withRunningServer(
                configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0),
                responder: consumer.responder(),
                logger: logger
            ) { consumerAddress in
                let assembly = try await RotorAssembly(
                    RotorAssembly.Settings(
                        dataDirectory: directory,
                        keyring: Keyring.generate(),
                        adminToken: adminToken,
                        vultrBaseURL: vultrURL,
                        retry: RetryPolicy(base: .milliseconds(100), maximum: .seconds(2), attemptsPerStep: 8),
                        maxConcurrentJobs: 4,
                        pollInterval: .milliseconds(100),
                        // The demo's consumer listens on loopback.
                        outboundPolicy: .loopbackAllowed
                    ),
                    logger: logger
                )
                defer { Task { try? await assembly.shutdownClients() } }
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await assembly.engine.run() }
                    let passed = try await HTTPServer.withRunningServer(
                        configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0),
                        responder: assembly.responder,
                        logger: logger
                    ) { rotorAddress in
                        let demo = DemoRun(
                            rotorURL: "http://127.0.0.1:\(rotorAddress.port ?? 0)",
                            consumerURL: "http://127.0.0.1:\(consumerAddress.port ?? 0)",
                            vultrURL: vultrURL,
                            adminToken: adminToken,
                            dataDirectory: directory,
                            workloadDirectory: workload
                        )
                        return try await demo.run(fake: fake, userID: userID, vultrKey: vultrKey, manager: manager, consumer: consumer)
                    }
                    await assembly.engine.stop()
                    try await group.waitForAll()
                    return passed
                }
            }
        }
        if !passed { throw ExitCode.failure }
    }
}

/// A webhook consumer that keeps what it is sent and says yes to verification.
final class DemoConsumer: Sendable {
    let deliveries = Mutex<[(headers: HTTPHeaders, body: [UInt8])]>([])

    func responder() -> RouterResponder {
        let router = Router()
        router.post("/hook") { request in
            self.deliveries.withLock { $0.append((request.headers, Array(request.body.readableBytesView))) }
            return Response(status: .noContent)
        }
        router.get("/verify") { _ in Response(status: .ok) }
        return router.buildResponder()
    }
}

/// The demo's steps, as a caller of the API would take them.
struct DemoRun {
    let rotorURL: String
    let consumerURL: String
    let vultrURL: String
    let adminToken: String
    let dataDirectory: String
    let workloadDirectory: String

    /// With `--provider vultr-user`: the account's root user, whose key manages the sub-user's.
    struct Manager {
        let userID: String
        let key: String
    }

    func run(fake: FakeVultr, userID: String, vultrKey: String, manager: Manager?, consumer: DemoConsumer) async throws -> Bool {
        let oldKey = fake.keys(ofUser: userID)[0]
        say("Rotor demo: one zero-downtime rotation against a fake Vultr API, end to end.\n")
        if manager != nil {
            say("1. A fake Vultr API runs at \(self.vultrURL), with an account's root user and a sub-user with one key (\(oldKey.id), \(SHA256.fingerprint(of: vultrKey))).")
        } else {
            say("1. A fake Vultr API runs at \(self.vultrURL), with one user and one key (\(oldKey.id), \(SHA256.fingerprint(of: vultrKey))).")
        }
        say("2. Rotor runs at \(self.rotorURL) (data in \(self.dataDirectory)); a webhook consumer at \(self.consumerURL).")

        var body: [String: Any] = [
            "name": "demo-vultr", "provider": "vultr", "secret": vultrKey,
            "targets": [
                ["type": "webhook", "url": self.consumerURL + "/hook", "verify_url": self.consumerURL + "/verify"],
                // A verify timeout well inside the demo's wait for the job, should the agent fail.
                ["type": "agent", "group": DemoAgent.group, "min_live": 1, "verify_timeout": "PT20S"],
            ],
        ]
        if let manager {
            let registered = try await self.call(.POST, "/v1/credentials", ["name": "demo-manager", "provider": "vultr", "secret": manager.key, "targets": []])
            guard let managerID = registered["id"] as? String else {
                say("   Registering the manager credential failed: \(registered)")
                return false
            }
            say("   Registered the root user's key as credential \(managerID) (provider vultr): it will create and delete the sub-user's keys.")
            body["provider"] = "vultr-user"
            body["manager_credential_id"] = managerID
            body["subject"] = userID
        }
        let credential = try await self.call(.POST, "/v1/credentials", body)
        guard let credentialID = credential["id"] as? String,
            let signing = (credential["targets"] as? [[String: Any]])?.first(where: { $0["type"] as? String == "webhook" })?["signing_secret"] as? String
        else {
            say("   Registering the credential failed: \(credential)")
            return false
        }
        say("3. Registered credential \(credentialID) with two targets, the webhook consumer and agent group \(DemoAgent.group):")
        say("   Rotor checked the key at the provider and found its id by its last five characters.")

        let token = try await self.call(.POST, "/v1/tokens", ["name": "demo-agent", "scopes": ["agent"], "credential_ids": [credentialID]])
        guard let agentToken = token["token"] as? String else {
            say("   Creating the agent token failed: \(token)")
            return false
        }
        let agent = try DemoAgent(
            rotorURL: self.rotorURL, vultrURL: self.vultrURL, token: agentToken, credentialID: credentialID, directory: self.workloadDirectory)
        let agentStarted = ContinuousClock.now
        return try await agent.running {
            say("4. Agent \(DemoAgent.instance) (group \(DemoAgent.group)) runs in process with an agent token bound to the credential.")
            say("   It keeps \(agent.keyFile) (mode 0600) current; its check: \(agent.checkDescription).")
            let applied = try await self.waitForAppliedVersion(1, credentialID: credentialID, within: .seconds(15))
            var (lines, seen) = agent.lines(after: agentStarted)
            for line in lines { say("   \(line)") }
            guard applied else {
                say("   The agent did not apply version 1 within 15 s; the demo stops here.")
                return false
            }
            say("   Instance \(DemoAgent.instance) shows applied_version 1.")

            let job = try await self.call(.POST, "/v1/jobs", ["credential_id": credentialID, "reason": "rotor demo"])
            guard let jobID = job["id"] as? String else {
                say("   Starting the rotation failed: \(job)")
                return false
            }
            say("5. Started rotation \(jobID); following it with GET /v1/jobs/\(jobID)?wait=PT30S ...")
            let started = ContinuousClock.now
            let finished = try await self.call(.GET, "/v1/jobs/\(jobID)?wait=PT30S")
            let state = finished["state"] as? String ?? "?"
            say("6. The job is \(state) after \(milliseconds(ContinuousClock.now - started)) ms.\n")

            say("Timeline:")
            let events = try await self.call(.GET, "/v1/jobs/\(jobID)/events")["data"] as? [[String: Any]] ?? []
            for event in events {
                let type = (event["type"] as? String ?? "").padding(toLength: 20, withPad: " ", startingAt: 0)
                let seq = String(describing: event["seq"] ?? "").padding(toLength: 3, withPad: " ", startingAt: 0)
                say("  \(seq) \(type) \(event["message"] as? String ?? "")")
            }
            // The agent hears that version 2 became current through its held fetch, just after the job ended.
            let sawCurrent = await agent.journal.waitFor(within: .seconds(5)) {
                $0.message.hasPrefix("rotation finished") && $0.metadata["version"] == "2"
            }
            say("\nAgent \(DemoAgent.instance), in ms after the rotation started:")
            (lines, seen) = agent.lines(since: seen, after: started)
            for line in lines { say("  \(line)") }

            let newKeyID = (finished["new_key"] as? [String: Any])?["provider_key_id"] as? String
            let newKey = newKeyID.flatMap { fake.key(id: $0) }
            let delivered = consumer.deliveries.withLock { $0 }
            let pendingVerified = delivered.contains { delivery in
                guard let id = delivery.headers.first(name: "webhook-id"), let timestamp = delivery.headers.first(name: "webhook-timestamp"),
                    let signature = delivery.headers.first(name: "webhook-signature"), let secret = try? WebhookSecret(encoded: signing)
                else { return false }
                let signed = (try? StandardWebhooks.verify(id: id, timestamp: timestamp, signatureHeader: signature, body: delivery.body, secrets: [secret], now: Date())) != nil
                return signed && newKey.map { String(decoding: delivery.body, as: UTF8.self).contains($0.secret) } == true
            }
            let stored = try await self.call(.GET, "/v1/credentials/\(credentialID)")

            let fileKey = try? String(contentsOfFile: agent.keyFile, encoding: .utf8)
            let fileMode = (try? FileManager.default.attributesOfItem(atPath: agent.keyFile))?[.posixPermissions] as? Int
            let acknowledged = events.first { $0["type"] as? String == "agents.acknowledged" }?["seq"] as? Int
            let revoking = events.first { $0["step"] as? String == "revoke" }?["seq"] as? Int
            let oldRefused = try await self.vultrStatus(key: vultrKey) == 401
            var fileAccepted = false
            if let fileKey { fileAccepted = try await self.vultrStatus(key: fileKey) == 200 }
            let appliedVersion = try await self.appliedVersion(credentialID: credentialID)

            let checks: [(String, Bool)] = [
                ("the job succeeded", state == "succeeded"),
                ("the old key is deleted at the provider", fake.key(id: oldKey.id) == nil),
                ("the new key exists at the provider and is the only one", newKey != nil && fake.keys(ofUser: userID).count == 1),
                ("the consumer got key.pending with the new key, signed per Standard Webhooks", pendingVerified),
                ("the credential is at version 2 with the new key current", stored["version"] as? Int == 2
                    && (stored["current"] as? [String: Any])?["provider_key_id"] as? String == newKeyID),
                ("the agent's key file holds the new key, mode 0600", newKey != nil && fileKey == newKey?.secret && fileMode == 0o600),
                ("agent group \(DemoAgent.group) acknowledged version 2 (event \(acknowledged.map(String.init) ?? "none")) before revoke began (event \(revoking.map(String.init) ?? "none"))",
                    acknowledged != nil && revoking != nil && acknowledged! < revoking!),
                ("at the fake Vultr the old key is refused (401) and the key in the agent's file is accepted", oldRefused && fileAccepted),
                ("instance \(DemoAgent.instance) shows applied_version 2", appliedVersion == 2),
                ("the agent saw version 2 become current", sawCurrent),
            ] + (manager.map { manager in
                [("the manager's own key is untouched", fake.keys(ofUser: manager.userID).map(\.secret) == [manager.key])]
            } ?? [])
            say("\nChecks:")
            for (text, ok) in checks {
                say("  \(ok ? "ok  " : "FAIL") \(text)")
            }
            let passed = checks.allSatisfy(\.1)
            say(passed ? "\nThe rotation kept its promises." : "\nThe demo failed; see the checks above.")
            return passed
        }
    }

    /// `applied_version` of the demo's agent instance (nil before it acknowledged anything).
    private func appliedVersion(credentialID: String) async throws -> Int? {
        let listing = try await self.call(.GET, "/v1/credentials/\(credentialID)/agent/instances")
        let instances = listing["data"] as? [[String: Any]] ?? []
        return instances.first { $0["instance"] as? String == DemoAgent.instance }?["applied_version"] as? Int
    }

    private func waitForAppliedVersion(_ version: Int, credentialID: String, within limit: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try await self.appliedVersion(credentialID: credentialID) == version { return true }
            try await Task.sleep(for: .milliseconds(25))
        }
        return false
    }

    /// The fake Vultr's answer to `GET /v2/account` with `key`: 200 when the key authenticates.
    private func vultrStatus(key: String) async throws -> UInt {
        var request = HTTPClientRequest(url: self.vultrURL + "/v2/account")
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 16)
        return response.status.code
    }

    private func call(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: self.rotorURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(self.adminToken)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (try? JSONSerialization.jsonObject(with: Data(buffer: bytes)) as? [String: Any]) ?? [:]
    }
}

private func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
