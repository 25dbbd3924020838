import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Runs the reload and check commands: `/bin/sh -c COMMAND` as a real child process in a process
/// group of its own (Foundation's `Process` spawns with `POSIX_SPAWN_SETPGROUP`), killed with its
/// whole group when it outlives its timeout or the agent stops. Its standard output is discarded
/// and its standard error kept only for the first line, so a command that prints the key puts it
/// nowhere.
package enum CommandRunner {
    /// How a command ended.
    package struct Result: Sendable, Equatable {
        /// The exit status, or nil when a signal ended it.
        package var exitStatus: Int32?
        package var signal: Int32?
        package var timedOut: Bool
        /// The first line of standard error: at most 200 characters, control characters and
        /// the redacted strings removed.
        package var firstErrorLine: String

        package var succeeded: Bool { self.exitStatus == 0 && !self.timedOut }

        /// `reload exited 3: <first line>`, `check timed out after 30s`: for an acknowledgement.
        package func summary(_ what: String, timeout: Duration) -> String {
            let how: String
            if self.timedOut {
                how = "\(what) timed out after \(AgentDuration.text(timeout))"
            } else if let status = self.exitStatus {
                how = "\(what) exited \(status)"
            } else {
                how = "\(what) was killed by signal \(self.signal ?? 0)"
            }
            return self.firstErrorLine.isEmpty ? how : "\(how): \(self.firstErrorLine)"
        }
    }

    package struct LaunchError: Error, Sendable, CustomStringConvertible {
        package var description: String
    }

    /// Variables never handed to a command: the agent's own token.
    static let withheld: Set<String> = ["ROTOR_AGENT_TOKEN"]

    /// Runs `command` with the agent's environment (`inherited`, less its token) plus
    /// `environment`, for at most `timeout`. `redacting` lists strings that must not appear in the
    /// result (the key).
    package static func run(
        _ command: String, environment: [String: String], timeout: Duration, redacting secrets: [String],
        inherited: [String: String] = ProcessInfo.processInfo.environment
    ) async throws(LaunchError) -> Result {
        let errorPath = NSTemporaryDirectory() + "rotor-agent-\(UUID().uuidString).stderr"
        let errorFD = open(errorPath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard errorFD >= 0 else { throw LaunchError(description: "cannot create \(errorPath): \(String(cString: strerror(errno)))") }
        unlink(errorPath)  // only the descriptor is needed: nothing is left behind
        let errorHandle = FileHandle(fileDescriptor: errorFD, closeOnDealloc: true)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        var merged = inherited.filter { !Self.withheld.contains($0.key) }
        merged.merge(environment) { $1 }
        process.environment = merged
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errorHandle
        let exit = ExitSignal()
        process.terminationHandler = { _ in exit.fire() }
        do {
            try process.run()
        } catch {
            throw LaunchError(description: "cannot start /bin/sh: \(error)")
        }
        let group = process.processIdentifier
        let timer = Task {
            try await Task.sleep(for: timeout)
            if exit.markTimedOut() { kill(-group, SIGKILL) }
        }
        await withTaskCancellationHandler {
            await exit.wait()
        } onCancel: {
            kill(-group, SIGKILL)
        }
        timer.cancel()

        // Read the first line from the start of the (unlinked) file.
        lseek(errorFD, 0, SEEK_SET)
        let captured = (try? errorHandle.read(upToCount: 4096)) ?? Data()
        try? errorHandle.close()
        var line = String(decoding: captured, as: UTF8.self)
        for secret in secrets where !secret.isEmpty { line = line.replacingOccurrences(of: secret, with: "[REDACTED]") }
        line = String(line.split(separator: "\n", omittingEmptySubsequences: true).first ?? "")
        line = String(line.unicodeScalars.filter { $0.properties.generalCategory != .control }).trimmingCharacters(in: .whitespaces)
        if line.count > 200 { line = String(line.prefix(199)) + "…" }
        // The key may have been cut by the truncation: drop anything left of a long secret's start.
        for secret in secrets where secret.count >= 8 {
            let head = String(secret.prefix(8))
            if let range = line.range(of: head) { line = String(line[..<range.lowerBound]) + "[REDACTED]" }
        }

        let signaled = process.terminationReason == .uncaughtSignal
        return Result(
            exitStatus: signaled ? nil : process.terminationStatus, signal: signaled ? process.terminationStatus : nil,
            timedOut: exit.timedOut, firstErrorLine: line)
    }
}

/// Bridges `Process.terminationHandler` (called on Foundation's thread) to an async wait.
private final class ExitSignal: Sendable {
    private let state = Mutex<(fired: Bool, timedOut: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, false, nil))

    var timedOut: Bool { self.state.withLock { $0.timedOut } }

    /// Records a timeout unless the process already exited; whether it did not (kill it then).
    func markTimedOut() -> Bool {
        self.state.withLock { state in
            if state.fired { return false }
            state.timedOut = true
            return true
        }
    }

    func fire() {
        let waiter = self.state.withLock { state in
            state.fired = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let fired = self.state.withLock { state in
                if state.fired { return true }
                state.waiter = continuation
                return false
            }
            if fired { continuation.resume() }
        }
    }
}
