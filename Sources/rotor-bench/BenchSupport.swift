import AsyncHTTPClient
import FakeVultr
import Foundation
import NIOCore
import RotorHTTP
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What the benchmarks that drive a `rotor serve` child process share.

/// The product binary, built beside this one (`swift build --product rotor`).
func rotorBinary() -> String {
    URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("rotor").path
}

/// Runs `body` with a FakeVultr in this process (no rate limit) and a `rotor serve` child
/// process on it, with a fresh keyring, an admin token, and rate limits off: the fake, the
/// server, its base URL and the admin's API. The server is stopped afterwards.
func withChildRotor(
    name: String, _ body: @Sendable (FakeVultr, ChildServer, String, BenchAPI) async throws -> Void
) async throws {
    FileLimit.raiseToMaximum()
    let fake = FakeVultr(configuration: .init(rateLimitPerSecond: nil))
    try await fake.run { vultrURL in
        let adminToken = "bench-" + UUID().uuidString.lowercased()
        let server = try ChildServer(binary: rotorBinary(), environment: [
            "ROTOR_ADMIN_TOKEN": adminToken,
            "ROTOR_MASTER_KEY": Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString(),
            "ROTOR_VULTR_BASE_URL": vultrURL,
            "ROTOR_RATE_LIMIT_RPS": "0",
        ])
        defer { server.stop() }
        let base = "http://127.0.0.1:\(try await server.port())"
        progress("\(name): server pid \(server.pid) on \(base)")
        try await body(fake, server, base, BenchAPI(client: HTTPClient.shared, baseURL: base, token: adminToken))
    }
}

/// A gauge's value from `/metrics`.
func metricsGauge(_ name: String, base: String) async throws -> Int {
    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + "/metrics"), timeout: .seconds(10))
    let text = String(buffer: try await response.body.collect(upTo: 16 << 20))
    for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
        return Int(Double(line.split(separator: " ").last ?? "") ?? 0)
    }
    return 0
}

/// A duration in seconds.
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// A value behind a lock that escaping closures can share.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { self.mutex = Mutex(value) }
    func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T { self.mutex.withLock { body(&$0) } }
}

/// A `rotor serve` child process on a free loopback port with a temporary data directory.
final class ChildServer: Sendable {
    let process: Process
    let stderr: URL
    let directory: URL
    var pid: Int32 { self.process.processIdentifier }

    init(binary: String, environment: [String: String]) throws {
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        self.stderr = self.directory.appendingPathComponent("server.stderr")
        _ = FileManager.default.createFile(atPath: self.stderr.path, contents: nil)
        self.process = Process()
        self.process.executableURL = URL(fileURLWithPath: binary)
        self.process.arguments = ["serve", "--listen", "127.0.0.1:0", "--data-dir", self.directory.appendingPathComponent("data").path]
        self.process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { $1 }
        self.process.standardOutput = FileHandle.nullDevice
        self.process.standardError = try FileHandle(forWritingTo: self.stderr)
        try self.process.run()
    }

    func port() async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let log = (try? String(contentsOf: self.stderr, encoding: .utf8)) ?? ""
            if let match = log.firstMatch(of: /address[=":]+127\.0\.0\.1:(\d+)/), let port = Int(match.output.1) { return port }
            guard self.process.isRunning else { throw BenchFailure("rotor serve exited: \(log.suffix(2000))") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchFailure("rotor serve did not log its address within 30 s")
    }

    /// utime + stime, in clock ticks.
    func cpuTicks() throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(self.pid)/stat", encoding: .utf8)
        let fields = stat[stat.range(of: ") ")!.upperBound...].split(separator: " ")
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }

    /// VmRSS and VmHWM in kB.
    func memory() throws -> (rss: Int, peak: Int) {
        let status = try String(contentsOfFile: "/proc/\(self.pid)/status", encoding: .utf8)
        func value(_ key: String) -> Int {
            status.split(separator: "\n").first { $0.hasPrefix(key + ":") }
                .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? 0
        }
        return (value("VmRSS"), value("VmHWM"))
    }

    func stop() {
        if self.process.isRunning { self.process.terminate() }
        self.process.waitUntilExit()
        if ProcessInfo.processInfo.environment["BENCH_KEEP"] == "1" {
            progress("server's data directory and log kept (BENCH_KEEP=1): \(self.directory.path)")
        } else {
            try? FileManager.default.removeItem(at: self.directory)
        }
    }
}

/// Progress on standard error; the report goes to standard output.
func progress(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
