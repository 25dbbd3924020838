import AsyncHTTPClient
import ChildProcess
import FakeVultr
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import RotorHTTP
import Synchronization
import Testing

/// A user at the fake provider, and the key Rotor is first given for it.
struct ProviderAccount: Sendable {
    let userID: String
    /// The plaintext of the user's first key.
    let apiKey: String
    let initialKeyID: String

    init(_ fake: FakeVultr) {
        (self.userID, self.apiKey) = fake.addUser()
        self.initialKeyID = fake.keys(ofUser: self.userID)[0].id
    }

    /// A sub-user in `root`'s account, whose keys `root`'s key may manage.
    init(subUserOf root: ProviderAccount, in fake: FakeVultr) throws {
        (self.userID, self.apiKey) = try #require(fake.addSubUser(to: root.userID, name: "Workload", email: "workload@example.com"))
        self.initialKeyID = fake.keys(ofUser: self.userID)[0].id
    }
}

/// The store a crash test's `rotor` keeps its state in.
enum CrashStore: String, Sendable, CustomTestStringConvertible {
    /// In the data directory.
    case sqlite
    /// A fresh schema of the database `ROTOR_TEST_DATABASE_URL` names, dropped afterwards.
    case postgres

    var testDescription: String { self == .sqlite ? "SQLite" : "PostgreSQL" }

    /// SQLite, and PostgreSQL too when `ROTOR_TEST_DATABASE_URL` names a server.
    static let all: [CrashStore] = MultiInstanceDatabase.url == nil ? [.sqlite] : [.sqlite, .postgres]

    /// Each of `sqlite` on SQLite, and each of `postgres` on PostgreSQL when there is one: every
    /// kill point runs on SQLite, a selection of them on PostgreSQL too, to keep the run short.
    static func cases<T>(sqlite: [T], postgres: [T]) -> [(T, CrashStore)] {
        sqlite.map { ($0, .sqlite) } + (all.contains(.postgres) ? postgres.map { ($0, .postgres) } : [])
    }
}

/// One crash test's world: a fake Vultr with one user (more on request), a webhook consumer, and
/// `rotor serve` on a data directory that survives the kill, storing in SQLite there or in a
/// PostgreSQL schema of its own.
final class CrashScenario: Sendable {
    let fake: FakeVultr
    let consumer: CrashConsumer
    /// The first user, whose key ``register(withTarget:verifyURL:name:account:)`` registers by default.
    let account: ProviderAccount
    var userID: String { self.account.userID }
    var vultrKey: String { self.account.apiKey }
    var oldKeyID: String { self.account.initialKeyID }
    let dataDirectory = NSTemporaryDirectory() + "rotor-crash-\(UUID().uuidString)"
    let consumerURL: String
    /// The fake Vultr's base URL.
    let vultrURL: String
    /// The port every start listens on when the scenario keeps one (agents must find `rotor`
    /// again after a restart); 0: a new one each time.
    private let fixedPort: Int
    private let environment: [String: String]
    private let processes = Mutex<[RotorProcessTests.RunningRotor]>([])
    private let portNumber = Mutex<Int>(0)
    private let accounts: Mutex<[ProviderAccount]>

    /// The PostgreSQL schema `rotor` stores in; nil on SQLite.
    private let schema: TestSchema?

    private init(
        fake: FakeVultr, consumer: CrashConsumer, vultrURL: String, consumerURL: String, schema: TestSchema?, environment extra: [String: String],
        fixedPort: Int
    ) {
        self.fake = fake
        self.consumer = consumer
        self.vultrURL = vultrURL
        self.fixedPort = fixedPort
        self.account = ProviderAccount(fake)
        self.accounts = Mutex([self.account])
        self.consumerURL = consumerURL
        self.schema = schema
        var environment = CrashTests.environment.merging(extra) { $1 }
        environment["ROTOR_VULTR_BASE_URL"] = vultrURL
        if let schema { environment["ROTOR_DATABASE_URL"] = schema.connectionString }
        self.environment = environment
    }

    /// Runs `body` against a started `rotor` on `store` (its environment amended by
    /// `environment`); every process is gone, and the data directory and any schema removed,
    /// afterwards.
    static func run(
        store: CrashStore = .sqlite, environment: [String: String] = [:], keepPort: Bool = false,
        _ body: @Sendable (CrashScenario) async throws -> Void
    ) async throws {
        let schema: TestSchema?
        if store == .postgres { schema = try await TestSchema.create("test_crash_") } else { schema = nil }
        do {
            try await self.run(schema: schema, environment: environment, fixedPort: keepPort ? try Self.freePort() : 0, body)
        } catch {
            try? await schema?.drop()
            throw error
        }
        try await schema?.drop()
    }

    /// A loopback port nothing listens on now.
    private static func freePort() throws -> Int {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        defer { try? channel.close().wait() }
        return try #require(channel.localAddress?.port)
    }

    private static func run(
        schema: TestSchema?, environment: [String: String], fixedPort: Int, _ body: @Sendable (CrashScenario) async throws -> Void
    ) async throws {
        let fake = FakeVultr(configuration: .init(rateLimitPerSecond: nil))
        let consumer = CrashConsumer()
        try await fake.run { vultrURL in
            try await HTTPServer.withRunningServer(
                configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0),
                responder: consumer.responder(),
                logger: Logger(label: "crash-consumer")
            ) { address in
                let scenario = CrashScenario(
                    fake: fake, consumer: consumer, vultrURL: vultrURL, consumerURL: "http://127.0.0.1:\(address.port ?? 0)", schema: schema,
                    environment: environment, fixedPort: fixedPort)
                defer { scenario.cleanUp() }
                try await scenario.start()
                try await body(scenario)
            }
        }
    }

    private var arguments: [String] { ["serve", "--listen", "127.0.0.1:\(self.fixedPort)", "--data-dir", self.dataDirectory] }

    /// The port the running `rotor` listens on.
    var port: Int { self.portNumber.withLock { $0 } }

    private func start() async throws {
        let process = try RotorProcessTests.RunningRotor(arguments: self.arguments, environment: self.environment)
        self.processes.withLock { $0.append(process) }
        let port = try await process.port()
        self.portNumber.withLock { $0 = port }
    }

    /// SIGKILL, and wait until the process is gone.
    func kill() async throws {
        let process = try #require(self.processes.withLock { $0.last })
        Foundation.kill(process.process.processIdentifier, SIGKILL)
        _ = try await process.exitStatus()
    }

    /// A new `rotor` on the same data directory and store. As `anotherInstance` it has a new
    /// instance id, so it does not take back the dead one's leases at once: it claims their jobs
    /// only once the leases lapse, the way a surviving instance takes over a dead one's jobs.
    func restart(asAnotherInstance anotherInstance: Bool = false) async throws {
        if anotherInstance { try FileManager.default.removeItem(atPath: self.dataDirectory + "/instance-id") }
        try await self.start()
    }

    /// One authenticated call to the running `rotor`.
    func call(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> [String: Any] {
        try await RotorProcessTests.api(port: self.portNumber.withLock { $0 }, token: ServeConfigurationTests.token, method, path, body).1
    }

    /// Another user at the fake provider, with one key.
    func addAccount() -> ProviderAccount {
        let account = ProviderAccount(self.fake)
        self.accounts.withLock { $0.append(account) }
        return account
    }

    /// Registers a user's key (the first user's unless told), with a webhook target at the
    /// consumer if asked, and that target's `verify_url` at the consumer too if asked.
    func register(withTarget: Bool = false, verifyURL: Bool = false, name: String = "crash", account: ProviderAccount? = nil) async throws -> String {
        let account = account ?? self.account
        let verify = verifyURL ? #","verify_url":"\#(self.consumerURL)/verify""# : ""
        let targets = withTarget ? #"[{"type":"webhook","url":"\#(self.consumerURL)/hook"\#(verify)}]"# : "[]"
        let credential = try await self.call(.POST, "/v1/credentials", #"{"name":"\#(name)","provider":"vultr","secret":"\#(account.apiKey)","targets":\#(targets)}"#)
        return try #require(credential["id"] as? String, "\(credential)")
    }

    /// Registers the first user's key as a `vultr` manager credential, and a sub-user's key as a
    /// `vultr-user` credential managed through it: the managed credential's id and its account.
    func registerManaged() async throws -> (credentialID: String, account: ProviderAccount) {
        let managerID = try await self.register(name: "manager")
        let account = try ProviderAccount(subUserOf: self.account, in: self.fake)
        self.accounts.withLock { $0.append(account) }
        let credential = try await self.call(
            .POST, "/v1/credentials",
            #"{"name":"managed","provider":"vultr-user","secret":"\#(account.apiKey)","targets":[],"manager_credential_id":"\#(managerID)","subject":"\#(account.userID)"}"#)
        return (try #require(credential["id"] as? String, "\(credential)"), account)
    }

    func startJob(_ credentialID: String, grace: String = "PT0S") async throws -> String {
        let job = try await self.call(.POST, "/v1/jobs", #"{"credential_id":"\#(credentialID)","grace_period":"\#(grace)"}"#)
        return try #require(job["id"] as? String, "\(job)")
    }

    /// Starts a rotation, kills `rotor` while the job's `operation` is in flight at the provider
    /// (made slow for that), and restarts it with the fault cleared: the job's id. A create cut
    /// off this way completes at the provider after the kill: its answer, and the only copy of the
    /// new key's plaintext, are lost (rule 2).
    func startJobAndKill(_ credentialID: String, during operation: FakeVultr.Operation) async throws -> String {
        let before = self.fake.requestCounts(operation).received
        self.fake.setLatency(.milliseconds(800), on: operation)
        let jobID = try await self.startJob(credentialID)
        try await Poll.until("the job calls \(operation)") { self.fake.requestCounts(operation).received > before }
        try await self.kill()
        if operation == .create {
            try await Poll.until("the create completes") { self.fake.requestCounts(.create).succeeded > 0 }
        }
        self.fake.clearFaults()
        try await self.restart()
        return jobID
    }

    /// The job once it is over (or after 30 s).
    func finished(_ jobID: String) async throws -> [String: Any] {
        try await self.call(.GET, "/v1/jobs/\(jobID)?wait=PT30S")
    }

    /// The job succeeded, the provider holds exactly its new key (the old one and any orphan
    /// are gone), and the credential is at version 2 on it; the new key's id.
    @discardableResult
    func expectSucceeded(_ jobID: String, _ credentialID: String, account: ProviderAccount? = nil) async throws -> String {
        let account = account ?? self.account
        let finished = try await self.finished(jobID)
        #expect(finished["state"] as? String == "succeeded", "\(finished)")
        let newKeyID = try #require((finished["new_key"] as? [String: Any])?["provider_key_id"] as? String, "\(finished)")
        let keys = self.fake.keys(ofUser: account.userID)
        #expect(keys.map(\.id) == [newKeyID], "keys at the provider: \(keys)")
        #expect(self.fake.key(id: account.initialKeyID) == nil)
        let stored = try await self.call(.GET, "/v1/credentials/\(credentialID)")
        #expect((stored["current"] as? [String: Any])?["provider_key_id"] as? String == newKeyID)
        #expect(stored["version"] as? Int == 2)
        #expect(stored["state"] as? String == "active")
        try await self.expectEveryKeyAccountedFor(credentialID, account: account)
        return newKeyID
    }

    /// Zero lost keys and zero orphans: every key live at the provider for the account is one
    /// Rotor records for the credential (current, previous, or the new key of a job that has not
    /// succeeded or rolled back), and the key Rotor hands out as current authenticates at the
    /// provider as the key it says is current. The ids Rotor records.
    @discardableResult
    func expectEveryKeyAccountedFor(_ credentialID: String, account: ProviderAccount? = nil) async throws -> Set<String> {
        let account = account ?? self.account
        let stored = try await self.call(.GET, "/v1/credentials/\(credentialID)")
        let currentID = try #require((stored["current"] as? [String: Any])?["provider_key_id"] as? String, "\(stored)")
        var known: Set<String> = [currentID]
        if let previousID = (stored["previous"] as? [String: Any])?["provider_key_id"] as? String {
            known.insert(previousID)
        }
        let jobs = try await self.call(.GET, "/v1/jobs?credential_id=\(credentialID)&limit=200")
        for job in jobs["data"] as? [[String: Any]] ?? [] where !["succeeded", "rolled_back", "cancelled"].contains(job["state"] as? String) {
            // A job still going holds its new key as pending; a failed one keeps it recorded.
            if let newKeyID = (job["new_key"] as? [String: Any])?["provider_key_id"] as? String { known.insert(newKeyID) }
        }
        let live = self.fake.keys(ofUser: account.userID)
        #expect(Set(live.map(\.id)).isSubset(of: known), "keys at the provider that Rotor does not know: \(live.filter { !known.contains($0.id) })")
        let secret = try await self.currentSecret(credentialID)
        let served = live.first { $0.secret == secret }
        #expect(served?.id == currentID, "the key Rotor serves as current is not the live key \(currentID)")
        return known
    }

    /// The credential's current key as a pull consumer gets it (a `secrets:read` token bound to it).
    func currentSecret(_ credentialID: String) async throws -> String {
        let issued = try await self.call(.POST, "/v1/tokens", #"{"name":"crash-reader","scopes":["secrets:read"],"credential_ids":["\#(credentialID)"]}"#)
        let token = try #require(issued["token"] as? String, "\(issued)")
        let (status, read) = try await RotorProcessTests.api(port: self.portNumber.withLock { $0 }, token: token, .GET, "/v1/credentials/\(credentialID)/secret")
        #expect(status == .ok)
        return try #require(read["secret"] as? String)
    }

    /// Stops `rotor` gracefully, then checks that no key's plaintext is in the database (SQLite's
    /// files, or every row of the PostgreSQL schema; nor in base64), nor in any process's output,
    /// and that an SQLite database is mode 0600.
    func finish() async throws {
        let last = try #require(self.processes.withLock { $0.last })
        last.process.terminate()
        #expect(try await last.exitStatus() == 0)

        let accounts = self.accounts.withLock { $0 }
        let plaintexts = accounts.map(\.apiKey) + accounts.flatMap { self.fake.keys(ofUser: $0.userID).map(\.secret) } + self.consumer.pendingSecrets
        if let schema = self.schema {
            // Every row as text: bytea columns appear as hex.
            let rows = try await schema.allRowsAsText()
            #expect(!rows.isEmpty)
            for plaintext in plaintexts {
                #expect(!rows.contains(plaintext), "the database contains a key")
                #expect(!rows.contains(Data(plaintext.utf8).base64EncodedString()), "the database contains a key in base64")
                #expect(!rows.contains(Data(plaintext.utf8).map { String(format: "%02x", $0) }.joined()), "the database contains a key as bytes")
            }
        }
        for name in ["rotor.sqlite", "rotor.sqlite-wal", "rotor.sqlite-shm"] where self.schema == nil {
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
        if self.schema == nil {
            let mode = try FileManager.default.attributesOfItem(atPath: self.dataDirectory + "/rotor.sqlite")[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
    }

    private func cleanUp() {
        for process in self.processes.withLock({ $0 }) where process.process.isRunning {
            Foundation.kill(process.process.processIdentifier, SIGKILL)
        }
        try? FileManager.default.removeItem(atPath: self.dataDirectory)
    }
}

/// A webhook consumer that keeps what it is sent, and can hold one event type (answering only
/// after a long pause, so that a kill lands mid-delivery) or refuse it for good (400). It also
/// answers its `verify_url` (`GET /verify`, counted and held or refused as the event `verify`).
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
            return try await self.answer(type, secret: secret)
        }
        router.get("/verify") { _ in try await self.answer("verify", secret: nil) }
        return router.buildResponder()
    }

    private func answer(_ type: String, secret: String?) async throws -> Response {
        let (held, refused) = self.state.withLock { state in
            state.received[type, default: 0] += 1
            if let secret { state.pendingSecrets.append(secret) }
            return (state.held == type, state.refused == type)
        }
        if refused { return Response(status: .badRequest) }
        if held { try await Task.sleep(for: .seconds(3)) }
        return Response(status: .noContent)
    }
}
