import FakeVultr
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Prometheus
import RotorAssembly
import RotorCore
import RotorCrypto
import RotorEngine
import RotorHTTP
import RotorProviders
import Synchronization
import Testing

/// A webhook target on a real socket: records deliveries, answers as told per path.
final class TargetReceiver: Sendable {
    struct Delivery: Sendable {
        var path: String
        var headers: HTTPHeaders
        var body: [UInt8]
        var type: String? {
            (try? JSONSerialization.jsonObject(with: Data(self.body)) as? [String: Any])?["type"] as? String
        }
    }

    let deliveries = Mutex<[Delivery]>([])
    let statuses = Mutex<[String: HTTPResponseStatus]>([:])
    let sequences = Mutex<[String: [HTTPResponseStatus]]>([:])

    func answer(_ path: String, with status: HTTPResponseStatus) {
        self.statuses.withLock { $0[path] = status }
    }

    /// Answers the next requests to `path` with `statuses` in turn, then as ``answer(_:with:)`` says.
    func answer(_ path: String, withSequence statuses: [HTTPResponseStatus]) {
        self.sequences.withLock { $0[path] = statuses }
    }

    private func status(for path: String) -> HTTPResponseStatus {
        if let next = self.sequences.withLock({ sequences -> HTTPResponseStatus? in
            guard var queue = sequences[path], !queue.isEmpty else { return nil }
            let first = queue.removeFirst()
            sequences[path] = queue
            return first
        }) {
            return next
        }
        return self.statuses.withLock { $0[path] } ?? .ok
    }

    var all: [Delivery] { self.deliveries.withLock { $0 } }

    func responder() -> RouterResponder {
        let router = Router()
        for method in [HTTPMethod.GET, .POST] {
            router.on(method, "/{path}") { request in
                let path = "/" + (request.parameters["path"] ?? "")
                self.deliveries.withLock { $0.append(Delivery(path: path, headers: request.headers, body: Array(request.body.readableBytesView))) }
                return Response(status: self.status(for: path))
            }
        }
        return router.buildResponder()
    }
}

/// Rotor as `rotor serve` assembles it (``RotorAssembly``) on SQLite, with its engine running
/// against FakeVultr and a webhook receiver; torn down after `body`.
struct EngineHarness: Sendable {
    let fake: FakeVultr
    let store: any RotorStore
    let receiver: TargetReceiver
    let engine: RotationEngine
    let receiverURL: String
    let userID: String
    let signing: WebhookSecret

    /// - Parameters:
    ///   - keyring: the store's keyring.
    ///   - dataDirectory: an existing data directory to run on (kept afterwards); else a temporary one.
    ///   - fake: a FakeVultr to run (its keys outlive the harness); else a fresh one.
    ///   - metrics: where the engine's metrics go.
    ///   - pollInterval: how often the engine looks for work unannounced.
    static func with(
        keyring: Keyring = .generate(),
        dataDirectory: String? = nil,
        fake: FakeVultr? = nil,
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        agentLiveness: TimeInterval = 120,
        agentVerifyTimeout: TimeInterval = 300,
        pollInterval: Duration = .milliseconds(20),
        _ body: @Sendable (EngineHarness) async throws -> Void
    ) async throws {
        let fake = fake ?? FakeVultr(configuration: FakeVultr.Configuration(rateLimitPerSecond: nil))
        let receiver = TargetReceiver()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-engine-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        try await fake.run { vultrURL in
            try await HTTPServer.withRunningServer(
                configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0),
                responder: receiver.responder(),
                logger: Logger(label: "receiver")
            ) { address in
                let settings = RotorAssembly.Settings(
                    dataDirectory: dataDirectory ?? directory.path,
                    keyring: keyring,
                    adminToken: SecureRandom.token(prefix: "rtr_"),
                    vultrBaseURL: vultrURL,
                    retry: RetryPolicy(base: .milliseconds(20), maximum: .milliseconds(80), attemptsPerStep: 4),
                    maxConcurrentJobs: 8,
                    pollInterval: pollInterval,
                    providerTimeout: .seconds(5),
                    metrics: metrics,
                    // The receiver listens on loopback.
                    outboundPolicy: .loopbackAllowed
                ).with(agentLiveness: agentLiveness, agentVerifyTimeout: agentVerifyTimeout)
                try await RotorAssembly.with(settings, logger: Logger(label: "engine")) { assembly in
                    let engine = assembly.engine
                    let (userID, _) = fake.addUser()
                    let harness = EngineHarness(
                        fake: fake, store: assembly.store, receiver: receiver, engine: engine,
                        receiverURL: "http://127.0.0.1:\(address.port ?? 0)", userID: userID, signing: WebhookSecret.generate()
                    )
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await engine.run() }
                        do {
                            try await body(harness)
                        } catch {
                            await engine.stop()
                            throw error
                        }
                        await engine.stop()
                        try await group.waitForAll()
                    }
                }
            }
        }
    }

    /// The user's original key (created by `addUser`).
    var originalKey: StoredKey { self.fake.keys(ofUser: self.userID)[0] }

    /// Registers a credential on the original key with one webhook target.
    func makeCredential(verifyPath: String? = "/verify") async throws -> (Credential, TargetID) {
        let now = Date()
        let targetID = TargetID.generate()
        let key = self.originalKey
        let credential = Credential(
            id: .generate(),
            name: "vultr-\(UUID().uuidString.prefix(8))",
            provider: .vultr,
            current: KeyInfo(providerKeyID: key.id, fingerprint: SHA256.fingerprint(of: key.secret), createdAt: now),
            targets: [Target(id: targetID, url: self.receiverURL + "/hook", verifyURL: verifyPath.map { self.receiverURL + $0 })],
            createdAt: now,
            updatedAt: now
        )
        try await self.store.createCredential(
            credential,
            secrets: CredentialSecrets(current: Secret(key.secret), signingSecrets: [targetID: Secret(self.signing.encoded)])
        )
        return (credential, targetID)
    }

    /// Queues a rotation of `credential` as the API does, and wakes the engine. The credential
    /// value is the caller's read; the store takes the job's old key and targets from its own.
    func rotate(_ credential: Credential, grace: ISODuration = .zero, dryRun: Bool = false) async throws -> JobID {
        let job = NewJob(credentialID: credential.id, trigger: Trigger(kind: .api), dryRun: dryRun, gracePeriod: grace, at: Date())
        _ = try await self.store.createJob(job, idempotencyKey: nil, requestFingerprint: nil, events: [JobEvent(at: Date(), type: "job.created", message: "test")])
        await self.engine.wake()
        return job.id
    }

    /// Polls until `condition` holds for the job (30 s at most: a guard against a hang, generous
    /// for a loaded 2-core machine running the whole suite at once).
    @discardableResult
    func waitFor(_ id: JobID, _ condition: @Sendable (Job) -> Bool = { $0.state.isTerminal }) async throws -> Job {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let job = try await self.store.job(id), condition(job) { return job }
            try await Task.sleep(for: .milliseconds(10))
        }
        let job = try await self.store.job(id)
        Issue.record("job did not get there in time: \(String(describing: job?.state)) at \(String(describing: job?.step)), events: \(try await self.store.events(id).map(\.message))")
        throw CancellationError()
    }
}
