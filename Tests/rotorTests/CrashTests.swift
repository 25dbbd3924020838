import AsyncHTTPClient
import FakeVultr
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorHTTP
import Synchronization
import Testing

/// DESIGN.md §2: a `kill -9` at any instant loses no key and leaves no orphan. The fake Vultr and
/// the webhook consumer run in the test process, so they outlive the killed `rotor`.
///
/// Kill points: in the middle of each provider call (list, create, account, delete), while a
/// target is being handed the new key (`distribute`) or told the old one is gone (`finalize`),
/// during the grace period, and in the middle of a rollback's delete.
@Suite(.timeLimit(.minutes(2))) struct CrashTests {
    static let environment = [
        "ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token,
        "ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey,
        "ROTOR_RETRY_BASE": "PT0.05S",
        "ROTOR_RETRY_MAX": "PT0.2S",
    ]

    @Test("kill -9 during a provider call; after a restart the job succeeds and the provider holds exactly the new key", arguments: [
        FakeVultr.Operation.list, .create, .account, .delete,
    ])
    func killDuring(operation: FakeVultr.Operation) async throws {
        try await CrashScenario.run { scenario in
            let credentialID = try await scenario.register()
            // The kill lands while this call is in flight at the provider.
            let before = scenario.fake.requestCounts(operation).received
            scenario.fake.setLatency(.milliseconds(800), on: operation)
            let jobID = try await scenario.startJob(credentialID)
            try await scenario.waitUntil("the job calls \(operation)") { scenario.fake.requestCounts(operation).received > before }
            try await scenario.kill()
            if operation == .create {
                // The provider finishes the create after Rotor died: its answer, and the only
                // copy of the new key's plaintext, are lost (rule 2).
                try await scenario.waitUntil("the create completes") { scenario.fake.requestCounts(.create).succeeded > 0 }
            }
            scenario.fake.clearFaults()
            try await scenario.restart()
            try await scenario.expectSucceeded(jobID, credentialID)
            try await scenario.finish()
        }
    }

    @Test("kill -9 while a target is handed the new key (distribute) or told the old one is revoked (finalize)", arguments: [
        "key.pending", "key.revoked",
    ])
    func killDuringDelivery(event: String) async throws {
        try await CrashScenario.run { scenario in
            let credentialID = try await scenario.register(withTarget: true)
            scenario.consumer.hold(event)
            let jobID = try await scenario.startJob(credentialID)
            try await scenario.waitUntil("the target receives \(event)") { scenario.consumer.received(event) > 0 }
            try await scenario.kill()
            scenario.consumer.hold(nil)
            try await scenario.restart()
            let newKeyID = try await scenario.expectSucceeded(jobID, credentialID)
            // Whatever was cut off, the consumer ends up holding the key that is current now.
            let newKey = try #require(scenario.fake.key(id: newKeyID))
            #expect(scenario.consumer.lastPendingSecret == newKey.secret)
            #expect(scenario.consumer.received("key.revoked") >= 1)
            try await scenario.finish()
        }
    }

    @Test("kill -9 during the grace period: after a restart the rest of the grace is kept, then the old key is revoked")
    func killDuringGrace() async throws {
        try await CrashScenario.run { scenario in
            let credentialID = try await scenario.register()
            let jobID = try await scenario.startJob(credentialID, grace: "PT2S")
            try await scenario.waitUntil("the job reaches grace") {
                let job = try await scenario.call(.GET, "/v1/jobs/\(jobID)")
                return job["step"] as? String == "grace"
            }
            // Both keys work during the grace period.
            #expect(scenario.fake.keys(ofUser: scenario.userID).count == 2)
            try await scenario.kill()
            try await scenario.restart()
            let newKeyID = try await scenario.expectSucceeded(jobID, credentialID)
            let job = try await scenario.call(.GET, "/v1/jobs/\(jobID)/events")
            let types = (job["data"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
            #expect(types.contains("key.current") && types.contains("job.succeeded"), "\(types)")
            #expect(scenario.fake.key(id: newKeyID) != nil)
            try await scenario.finish()
        }
    }

    @Test("kill -9 in the middle of a rollback's delete: after a restart the job is rolled back and only the old key exists")
    func killDuringRollback() async throws {
        try await CrashScenario.run { scenario in
            let credentialID = try await scenario.register(withTarget: true)
            // The consumer refuses the new key for good (400): the job must roll back, deleting it.
            scenario.consumer.refuse("key.pending")
            let before = scenario.fake.requestCounts(.delete).received
            scenario.fake.setLatency(.milliseconds(800), on: .delete)
            let jobID = try await scenario.startJob(credentialID)
            try await scenario.waitUntil("the rollback deletes the new key") { scenario.fake.requestCounts(.delete).received > before }
            try await scenario.kill()
            scenario.fake.clearFaults()
            try await scenario.restart()

            let finished = try await scenario.call(.GET, "/v1/jobs/\(jobID)?wait=PT30S")
            #expect(finished["state"] as? String == "rolled_back", "\(finished)")
            let keys = scenario.fake.keys(ofUser: scenario.userID)
            #expect(keys.map(\.id) == [scenario.oldKeyID], "keys at the provider: \(keys)")
            let stored = try await scenario.call(.GET, "/v1/credentials/\(credentialID)")
            #expect((stored["current"] as? [String: Any])?["provider_key_id"] as? String == scenario.oldKeyID)
            #expect(stored["version"] as? Int == 1)
            #expect(stored["state"] as? String == "active")
            try await scenario.finish()
        }
    }
}

/// One crash test's world: a fake Vultr with one user, a webhook consumer, and `rotor serve`
/// on a data directory that survives the kill.
final class CrashScenario: Sendable {
    let fake: FakeVultr
    let consumer: CrashConsumer
    let userID: String
    let vultrKey: String
    let oldKeyID: String
    let dataDirectory = NSTemporaryDirectory() + "rotor-crash-\(UUID().uuidString)"
    private let consumerURL: String
    private let environment: [String: String]
    private let processes = Mutex<[RotorProcessTests.RunningRotor]>([])
    private let port = Mutex<Int>(0)

    private init(fake: FakeVultr, consumer: CrashConsumer, vultrURL: String, consumerURL: String) {
        self.fake = fake
        self.consumer = consumer
        (self.userID, self.vultrKey) = fake.addUser()
        self.oldKeyID = fake.keys(ofUser: self.userID)[0].id
        self.consumerURL = consumerURL
        var environment = CrashTests.environment
        environment["ROTOR_VULTR_BASE_URL"] = vultrURL
        self.environment = environment
    }

    /// Runs `body` against a started `rotor`; every process is gone and the data directory
    /// removed afterwards.
    static func run(_ body: @Sendable (CrashScenario) async throws -> Void) async throws {
        let fake = FakeVultr(configuration: .init(rateLimitPerSecond: nil))
        let consumer = CrashConsumer()
        try await fake.run { vultrURL in
            try await HTTPServer.withRunningServer(
                configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0),
                responder: consumer.responder(),
                logger: Logger(label: "crash-consumer")
            ) { address in
                let scenario = CrashScenario(fake: fake, consumer: consumer, vultrURL: vultrURL, consumerURL: "http://127.0.0.1:\(address.port ?? 0)/hook")
                defer { scenario.cleanUp() }
                try await scenario.start()
                try await body(scenario)
            }
        }
    }

    private var arguments: [String] { ["serve", "--listen", "127.0.0.1:0", "--data-dir", self.dataDirectory] }

    private func start() async throws {
        let process = try RotorProcessTests.RunningRotor(arguments: self.arguments, environment: self.environment)
        self.processes.withLock { $0.append(process) }
        let port = try await process.port()
        self.port.withLock { $0 = port }
    }

    /// SIGKILL, and wait until the process is gone.
    func kill() async throws {
        let process = try #require(self.processes.withLock { $0.last })
        Foundation.kill(process.process.processIdentifier, SIGKILL)
        _ = try await process.exitStatus()
    }

    /// A new `rotor` on the same data directory.
    func restart() async throws {
        try await self.start()
    }

    /// One authenticated call to the running `rotor`.
    func call(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> [String: Any] {
        try await RotorProcessTests.api(port: self.port.withLock { $0 }, token: ServeConfigurationTests.token, method, path, body).1
    }

    /// Registers the fake user's key, with a webhook target at the consumer if asked.
    func register(withTarget: Bool = false) async throws -> String {
        let targets = withTarget ? #"[{"type":"webhook","url":"\#(self.consumerURL)"}]"# : "[]"
        let credential = try await self.call(.POST, "/v1/credentials", #"{"name":"crash","provider":"vultr","secret":"\#(self.vultrKey)","targets":\#(targets)}"#)
        return try #require(credential["id"] as? String, "\(credential)")
    }

    func startJob(_ credentialID: String, grace: String = "PT0S") async throws -> String {
        let job = try await self.call(.POST, "/v1/jobs", #"{"credential_id":"\#(credentialID)","grace_period":"\#(grace)"}"#)
        return try #require(job["id"] as? String, "\(job)")
    }

    func waitUntil(_ what: String, within limit: Duration = .seconds(20), _ condition: @Sendable () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while try await !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting until \(what)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// The job succeeded, the provider holds exactly its new key (the old one and any orphan
    /// are gone), and the credential is at version 2 on it; the new key's id.
    @discardableResult
    func expectSucceeded(_ jobID: String, _ credentialID: String) async throws -> String {
        let finished = try await self.call(.GET, "/v1/jobs/\(jobID)?wait=PT30S")
        #expect(finished["state"] as? String == "succeeded", "\(finished)")
        let newKeyID = try #require((finished["new_key"] as? [String: Any])?["provider_key_id"] as? String, "\(finished)")
        let keys = self.fake.keys(ofUser: self.userID)
        #expect(keys.map(\.id) == [newKeyID], "keys at the provider: \(keys)")
        #expect(self.fake.key(id: self.oldKeyID) == nil)
        let stored = try await self.call(.GET, "/v1/credentials/\(credentialID)")
        #expect((stored["current"] as? [String: Any])?["provider_key_id"] as? String == newKeyID)
        #expect(stored["version"] as? Int == 2)
        #expect(stored["state"] as? String == "active")
        return newKeyID
    }

    /// Stops `rotor` gracefully, then checks that neither key's plaintext is in the database
    /// files (nor in base64), nor in any process's output, and that the database is mode 0600.
    func finish() async throws {
        let last = try #require(self.processes.withLock { $0.last })
        last.process.terminate()
        #expect(try await last.exitStatus() == 0)

        let plaintexts = [self.vultrKey] + self.fake.keys(ofUser: self.userID).map(\.secret) + self.consumer.pendingSecrets
        for name in ["rotor.sqlite", "rotor.sqlite-wal", "rotor.sqlite-shm"] {
            guard let bytes = FileManager.default.contents(atPath: self.dataDirectory + "/" + name) else { continue }
            for plaintext in plaintexts {
                #expect(bytes.range(of: Data(plaintext.utf8)) == nil, "\(name) contains a key")
                #expect(bytes.range(of: Data(Data(plaintext.utf8).base64EncodedString().utf8)) == nil, "\(name) contains a key in base64")
            }
        }
        for process in self.processes.withLock({ $0 }) {
            for plaintext in plaintexts {
                #expect(!process.errors.contains(plaintext) && !process.output.contains(plaintext), "a key is in rotor's output")
            }
        }
        let mode = try FileManager.default.attributesOfItem(atPath: self.dataDirectory + "/rotor.sqlite")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    private func cleanUp() {
        for process in self.processes.withLock({ $0 }) where process.process.isRunning {
            Foundation.kill(process.process.processIdentifier, SIGKILL)
        }
        try? FileManager.default.removeItem(atPath: self.dataDirectory)
    }
}

/// A webhook consumer that keeps what it is sent, and can hold one event type (answering only
/// after a long pause, so that a kill lands mid-delivery) or refuse it for good (400).
final class CrashConsumer: Sendable {
    private struct State {
        var received: [String: Int] = [:]
        var pendingSecrets: [String] = []
        var held: String?
        var refused: String?
    }

    private let state = Mutex(State())

    func hold(_ event: String?) { self.state.withLock { $0.held = event } }
    func refuse(_ event: String?) { self.state.withLock { $0.refused = event } }
    func received(_ event: String) -> Int { self.state.withLock { $0.received[event, default: 0] } }
    var pendingSecrets: [String] { self.state.withLock { $0.pendingSecrets } }
    var lastPendingSecret: String? { self.pendingSecrets.last }

    func responder() -> RouterResponder {
        let router = Router()
        router.post("/hook") { request in
            let object = (try? JSONSerialization.jsonObject(with: Data(request.body.readableBytesView))) as? [String: Any]
            let type = object?["type"] as? String ?? "?"
            let secret = (object?["data"] as? [String: Any])?["secret"] as? String
            let (held, refused) = self.state.withLock { state in
                state.received[type, default: 0] += 1
                if let secret { state.pendingSecrets.append(secret) }
                return (state.held == type, state.refused == type)
            }
            if refused { return Response(status: .badRequest) }
            if held { try await Task.sleep(for: .seconds(3)) }
            return Response(status: .noContent)
        }
        return router.buildResponder()
    }
}
