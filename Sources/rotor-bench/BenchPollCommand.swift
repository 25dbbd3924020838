import ArgumentParser
import AsyncHTTPClient
import Foundation
import RotorAssembly
import NIOHTTP1
import RotorCore
import Synchronization

/// `rotor-bench poll`: the callers `rotor-bench engine` measures `GET /v1/jobs/{id}` with, in a process
/// of their own. Reads job ids (one per line) from `--ids`, polls random ones about every 10 ms
/// per poller until its standard input closes, then prints each request's latency in
/// microseconds, one per line. The token comes from `ROTOR_BENCH_TOKEN`.
struct BenchPollCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "poll",
        abstract: "Poll GET /v1/jobs/{id} for rotor-bench engine until standard input closes.",
    )

    @Option var baseURL: String
    @Option var ids: String
    @Option var pollers = 2

    func run() async throws {
        let token = ProcessInfo.processInfo.environment["ROTOR_BENCH_TOKEN"] ?? ""
        let jobIDs = try String(contentsOfFile: self.ids, encoding: .utf8).split(separator: "\n").compactMap { JobID(String($0)) }
        guard !jobIDs.isEmpty else { throw ValidationError("no job ids in \(self.ids)") }
        let api = BenchAPI(client: HTTPClient.shared, baseURL: self.baseURL, token: token)
        let log = PollLog()
        // Standard input closing is the parent's signal that the jobs are done.
        let stdinClosed = Task.detached {
            while let line = readLine(strippingNewline: true) { _ = line }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<self.pollers {
                group.addTask {
                    while !log.finished.load(ordering: .relaxed) {
                        let id = jobIDs.randomElement()!
                        let start = ContinuousClock.now
                        let (status, _) = try await api.call(.GET, "/v1/jobs/\(id)")
                        let elapsed = ContinuousClock.now - start
                        guard status == .ok else { throw BenchFailure("GET /v1/jobs/\(id) answered \(status.code)") }
                        log.latencies.withLock { $0.append(elapsed) }
                        try await Task.sleep(for: .milliseconds(10))
                    }
                }
            }
            await stdinClosed.value
            log.finished.store(true, ordering: .relaxed)
            try await group.waitForAll()
        }
        let lines = log.latencies.withLock { $0 }.map { String(Int($0.components.seconds * 1_000_000 + $0.components.attoseconds / 1_000_000_000_000)) }
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

/// The pollers' timings, and the flag that stops them.
final class PollLog: Sendable {
    let finished = Atomic<Bool>(false)
    let latencies = Mutex<[Duration]>([])
}

/// A running `rotor-bench poll`.
struct PollerProcess {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let idsFile: URL

    init(baseURL: String, token: String, ids: [JobID], pollers: Int) throws {
        self.idsFile = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-bench-ids-\(UUID().uuidString)")
        try Data(ids.map(\.rawValue).joined(separator: "\n").utf8).write(to: self.idsFile)
        self.process.executableURL = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        self.process.arguments = ["poll", "--base-url", baseURL, "--ids", self.idsFile.path, "--pollers", String(pollers)]
        self.process.environment = ["ROTOR_BENCH_TOKEN": token, "PATH": "/usr/bin:/bin"]
        self.process.standardInput = self.input
        self.process.standardOutput = self.output
        try self.process.run()
    }

    /// Stops the pollers and returns their latencies.
    func finish() async throws -> [Duration] {
        try self.input.fileHandleForWriting.close()
        let data = self.output.fileHandleForReading.readDataToEndOfFile()
        self.process.waitUntilExit()
        try? FileManager.default.removeItem(at: self.idsFile)
        guard self.process.terminationStatus == 0 else { throw BenchFailure("rotor-bench poll exited with \(self.process.terminationStatus)") }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { Int($0) }.map { .microseconds($0) }
    }
}
