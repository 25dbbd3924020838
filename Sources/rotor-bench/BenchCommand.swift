import ArgumentParser
import AsyncHTTPClient
import FakeVultr
import Foundation
import RotorAssembly
import Logging
import NIOCore
import NIOHTTP1
import RotorCore
import RotorCrypto
import RotorEngine
import RotorHTTP
import RotorPostgres
import RotorProviders
import RotorSQLite
import Synchronization

/// `rotor-bench engine`: the rotation engine's throughput, latency and memory, measured
/// (`scripts/bench-engine.sh` runs it in a release build).
///
/// One process holds Rotor (store, engine, API on loopback) and an in-process fake Vultr API
/// without its rate limit, optionally slowed by a fixed latency on every call. The bench creates
/// one fake user and one credential per job, queues every job through `POST /v1/jobs` while the
/// engine is not yet running, then starts the engine and measures until every job is terminal.
/// While they run, pollers in a separate process (`rotor-bench poll`) time `GET /v1/jobs/{id}` as
/// a caller following its job would.
/// Peak RSS is the whole process's (Rotor, the fake and the bench's own clients): an upper
/// bound for Rotor alone.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Measure rotations/s, rotation latency and peak RSS against an in-process fake Vultr API.",
    )

    @Option(help: "Rotations to run (one credential each).")
    var jobs = 1000

    @Option(name: .customLong("latency-ms"), help: "Latency the fake adds to every provider call, in milliseconds.")
    var latencyMilliseconds = 0

    @Option(help: "The engine's concurrency limit (ROTOR_MAX_CONCURRENT_JOBS).")
    var concurrency = 64

    @Option(help: "Callers polling GET /v1/jobs/{id} while the jobs run, each about every 10 ms.")
    var pollers = 2

    @Option(help: "Where to put the data directory (default: a new temporary directory, removed after).")
    var dataDir: String?

    @Option(name: .customLong("database-url"), help: "A PostgreSQL database to use instead of SQLite (ROTOR_DATABASE_URL's form, and its default); it should be empty.")
    var databaseURLOption: String?

    /// `--database-url`, else `ROTOR_DATABASE_URL`.
    var databaseURL: String? { self.databaseURLOption ?? ProcessInfo.processInfo.environment["ROTOR_DATABASE_URL"] }

    @Flag(help: "Rotate through the native Vultr adapter instead of the built-in vultr definition (the baseline the definition is compared with).")
    var nativeVultr = false

    func validate() throws {
        guard self.jobs > 0 else { throw ValidationError("--jobs must be positive") }
        guard self.latencyMilliseconds >= 0 else { throw ValidationError("--latency-ms must not be negative") }
        guard self.concurrency > 0 else { throw ValidationError("--concurrency must be positive") }
        guard self.pollers >= 0 else { throw ValidationError("--pollers must not be negative") }
    }

    func run() async throws {
        LogFormat.text.bootstrap(level: .warning)
        let logger = Logger(label: "rotor-bench")
        let directory = self.dataDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("rotor-bench-\(UUID().uuidString)").path
        try DataDirectory.prepare(directory)
        defer { if self.dataDir == nil { try? FileManager.default.removeItem(atPath: directory) } }

        let fake = FakeVultr(configuration: FakeVultr.Configuration(rateLimitPerSecond: nil))
        let seeds = (0..<self.jobs).map { index in
            let (userID, key) = fake.addUser(name: "Bench \(index)", email: "bench-\(index)@example.com")
            return (userID: userID, keyID: fake.keys(ofUser: userID)[0].id, key: key)
        }
        let adminToken = SecureRandom.token(prefix: "rtr_")
        // Callers get their own pool, sized so that queueing and polling are not the bottleneck.
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)

        let report = try await fake.run { vultrURL in
            let assembly = try await RotorAssembly(
                RotorAssembly.Settings(
                    dataDirectory: directory,
                    keyring: Keyring.generate(),
                    adminToken: adminToken,
                    vultrBaseURL: vultrURL,
                    retry: RetryPolicy(base: .milliseconds(100), maximum: .seconds(2), attemptsPerStep: 8),
                    maxConcurrentJobs: self.concurrency,
                    pollInterval: .milliseconds(200),
                    databaseURL: try self.databaseURL.map { try PostgresURL(parsing: $0) },
                    providers: self.nativeVultr
                        ? [.vultr: VultrProvider(baseURL: vultrURL, client: ProviderHTTP.makeClient(maximumConnections: self.concurrency))] : nil
                ),
                logger: logger
            )
            defer { Task { try? await assembly.shutdownClients() } }

            let credentials = try await Self.seedCredentials(seeds, into: assembly)
            return try await HTTPServer.withRunningServer(
                configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0),
                responder: assembly.responder,
                logger: logger
            ) { address in
                let api = BenchAPI(client: client, baseURL: "http://127.0.0.1:\(address.port ?? 0)", token: adminToken)
                let queueStart = ContinuousClock.now
                let jobIDs = try await api.queueJobs(for: credentials, callers: 32)
                let queueTime = ContinuousClock.now - queueStart
                fake.setLatency(.milliseconds(self.latencyMilliseconds))
                let countsBefore = Self.providerCalls(fake)

                return try await withThrowingTaskGroup(of: Void.self) { group in
                    let start = ContinuousClock.now
                    let cpuAtStart = Self.processCPUSeconds()
                    group.addTask { try await assembly.engine.run() }
                    // The pollers run in a process of their own, as callers do: their HTTP client
                    // then competes for the machine's cores, not for Rotor's threads.
                    let pollers = self.pollers > 0 ? try PollerProcess(baseURL: api.baseURL, token: adminToken, ids: jobIDs, pollers: self.pollers) : nil
                    let jobs = try await Self.waitUntilTerminal(jobIDs, store: assembly)
                    let wall = ContinuousClock.now - start
                    let cpu = Self.processCPUSeconds() - cpuAtStart
                    let polls = try await pollers?.finish() ?? []
                    await assembly.engine.stop()
                    try await group.waitForAll()

                    let calls = Self.providerCalls(fake) - countsBefore
                    return BenchReport(
                        jobs: jobs, wall: wall, cpuSeconds: cpu, queueTime: queueTime, providerCalls: calls,
                        polls: polls, peakRSSKilobytes: Self.peakRSSKilobytes(),
                        keysAtFake: seeds.reduce(0) { $0 + fake.keys(ofUser: $1.userID).count }
                    )
                }
            }
        }
        try await client.shutdown()
        let passed = report.print(latencyMilliseconds: self.latencyMilliseconds, concurrency: self.concurrency, store: self.databaseURL == nil ? "SQLite" : "PostgreSQL",
                                  provider: self.nativeVultr ? "native Vultr adapter" : "vultr definition")
        if !passed { throw ExitCode.failure }
    }

    /// One credential per fake user, written straight to the store: the bench measures rotations,
    /// not registration (which asks the provider about each key first).
    private static func seedCredentials(_ seeds: [(userID: String, keyID: String, key: String)], into assembly: RotorAssembly) async throws -> [CredentialID] {
        let now = Date()
        return try await withThrowingTaskGroup(of: CredentialID.self) { group in
            var ids: [CredentialID] = []
            var next = seeds.makeIterator()
            func add(_ seed: (userID: String, keyID: String, key: String), index: Int) {
                group.addTask {
                    let credential = Credential(
                        id: .generate(), name: "bench-\(index)", provider: .vultr,
                        current: KeyInfo(providerKeyID: seed.keyID, fingerprint: SHA256.fingerprint(of: seed.key), createdAt: now),
                        createdAt: now, updatedAt: now
                    )
                    try await assembly.store.createCredential(credential, secrets: CredentialSecrets(current: Secret(seed.key)))
                    return credential.id
                }
            }
            var index = 0
            while index < 32, let seed = next.next() {
                add(seed, index: index)
                index += 1
            }
            for try await id in group {
                ids.append(id)
                if let seed = next.next() {
                    add(seed, index: index)
                    index += 1
                }
            }
            return ids
        }
    }

    /// Waits until every job is terminal, then reads them all. Progress comes from the store's
    /// aggregate counts (one query every 100 ms, what `/metrics` reads), not from reading jobs
    /// one by one, which would cost the engine more CPU than the figures could tolerate.
    private static func waitUntilTerminal(_ ids: [JobID], store assembly: RotorAssembly) async throws -> [Job] {
        var unfinished = ids.count
        var stalledRounds = 0
        while unfinished > 0 {
            try await Task.sleep(for: .milliseconds(100))
            let counts = try await assembly.store.jobCounts()
            let now = counts.filter { !$0.state.isTerminal }.reduce(0) { $0 + $1.count }
            stalledRounds = now < unfinished ? 0 : stalledRounds + 1
            unfinished = now
            if stalledRounds > 600 { throw BenchFailure("no job finished for a minute; \(unfinished) still unfinished") }
        }
        var jobs: [Job] = []
        jobs.reserveCapacity(ids.count)
        for id in ids {
            guard let job = try await assembly.store.job(id) else { throw BenchFailure("job \(id) vanished") }
            jobs.append(job)
        }
        return jobs
    }

    private static func providerCalls(_ fake: FakeVultr) -> Int {
        FakeVultr.Operation.allCases.reduce(0) { $0 + fake.requestCounts($1).received }
    }

    /// User and system CPU time this process has used, in seconds.
    private static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// The process's peak resident set (`VmHWM`), in kB.
    private static func peakRSSKilobytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The bench's calls to Rotor's API, as any client would make them.
struct BenchAPI: Sendable {
    let client: HTTPClient
    let baseURL: String
    let token: String

    /// `POST /v1/jobs` for each credential, `callers` at a time; the job ids in credential order.
    func queueJobs(for credentials: [CredentialID], callers: Int) async throws -> [JobID] {
        try await withThrowingTaskGroup(of: (Int, JobID).self) { group in
            var ids = [JobID?](repeating: nil, count: credentials.count)
            var next = 0
            func add(_ index: Int) {
                group.addTask {
                    let body = #"{"credential_id":"\#(credentials[index])","reason":"bench"}"#
                    let (status, json) = try await self.call(.POST, "/v1/jobs", body: body)
                    guard status == .accepted, let text = json["id"] as? String, let id = JobID(text) else {
                        throw BenchFailure("POST /v1/jobs answered \(status.code): \(json)")
                    }
                    return (index, id)
                }
            }
            while next < min(callers, credentials.count) {
                add(next)
                next += 1
            }
            for try await (index, id) in group {
                ids[index] = id
                if next < credentials.count {
                    add(next)
                    next += 1
                }
            }
            return ids.compactMap { $0 }
        }
    }

    func call(_ method: HTTPMethod, _ path: String, body: String? = nil) async throws -> (HTTPResponseStatus, [String: Any]) {
        var request = HTTPClientRequest(url: self.baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(self.token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await self.client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let json = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        return (response.status, json)
    }
}

/// What one bench run measured, and whether its rotations kept their promises.
struct BenchReport {
    var jobs: [Job]
    var wall: Duration
    /// CPU time of the bench process while the jobs ran (Rotor and the fake; not the pollers).
    var cpuSeconds: Double
    var queueTime: Duration
    var providerCalls: Int
    var polls: [Duration]
    var peakRSSKilobytes: Int?
    var keysAtFake: Int

    /// Prints the figures; false when a rotation did not succeed or the fake holds other than one key per credential.
    func print(latencyMilliseconds: Int, concurrency: Int, store: String, provider: String) -> Bool {
        let wallSeconds = self.wall.seconds
        let succeeded = self.jobs.filter { $0.state == .succeeded }.count
        let runLatencies = self.jobs.compactMap { job in job.startedAt.flatMap { started in job.finishedAt.map { $0.timeIntervalSince(started) } } }
        let callsPerRotation = Double(self.providerCalls) / Double(max(1, self.jobs.count))

        say("=== rotor engine benchmark: \(self.jobs.count) rotations, concurrency \(concurrency), provider latency \(latencyMilliseconds) ms, \(store) store, \(provider), \(ProcessInfo.processInfo.activeProcessorCount) CPUs ===")
        say(String(format: "queued through POST /v1/jobs in %.2f s (%.0f jobs/s)", self.queueTime.seconds, Double(self.jobs.count) / self.queueTime.seconds))
        say(String(format: "wall time %.2f s: %.1f rotations/s; %d succeeded, %d other", wallSeconds, Double(self.jobs.count) / wallSeconds, succeeded, self.jobs.count - succeeded))
        say(String(format: "CPU while running: %.2f s, %.2f ms per rotation, %.2f cores busy on average (Rotor and the fake)",
            self.cpuSeconds, self.cpuSeconds * 1000 / Double(max(1, self.jobs.count)), self.cpuSeconds / max(wallSeconds, 0.001)))
        say("rotation latency (started → finished): " + percentiles(runLatencies.map { $0 * 1000 }))
        say(String(format: "provider calls: %d (%.2f per rotation)", self.providerCalls, callsPerRotation))
        if latencyMilliseconds > 0 {
            let ideal = callsPerRotation * Double(latencyMilliseconds) / 1000 * Double(self.jobs.count) / Double(concurrency)
            say(String(format: "ideal wall time (calls × latency × jobs ÷ concurrency): %.2f s; measured/ideal %.2f (target ≤ 1.5)", ideal, wallSeconds / ideal))
        }
        say("GET /v1/jobs/{id} while running (\(self.polls.count) requests): " + percentiles(self.polls.map { $0.seconds * 1000 }))
        say("peak RSS (VmHWM, whole bench process): " + (self.peakRSSKilobytes.map { String(format: "%.1f MB", Double($0) / 1024) } ?? "unknown"))
        say("keys at the fake: \(self.keysAtFake) for \(self.jobs.count) credentials")

        var passed = true
        if succeeded != self.jobs.count {
            say("FAIL: \(self.jobs.count - succeeded) rotations did not succeed")
            passed = false
        }
        if self.keysAtFake != self.jobs.count {
            say("FAIL: the fake holds \(self.keysAtFake) keys, expected exactly one per credential")
            passed = false
        }
        return passed
    }

    /// `p50 … ms  p90 … ms  p99 … ms  max … ms` of `values` (milliseconds).
    private func percentiles(_ values: [Double]) -> String {
        guard !values.isEmpty else { return "no samples" }
        let sorted = values.sorted()
        func at(_ fraction: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)] }
        return String(format: "p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms", at(0.5), at(0.9), at(0.99), sorted.last!)
    }
}

extension Duration {
    fileprivate var seconds: Double {
        Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18
    }
}

private func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
