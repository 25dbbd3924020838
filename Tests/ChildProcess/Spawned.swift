import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, for every test that runs a program.
///
/// Foundation's `Process.run()` on Linux (swift-corelibs-foundation in Swift 6.3.1) scans
/// `/proc/self/fd` with a fixed 256-byte copy of each entry, and crashes the whole test process
/// now and then when it holds many descriptors, as this one does with many suites running at
/// once (swift-corelibs-foundation #5472; seen in two CI runs). `posix_spawn` scans nothing.
/// The members the tests use have `Process`'s names.
public final class Spawned: @unchecked Sendable {
    public let processIdentifier: Int32
    private let lock = NSLock()
    private var status: Int32?

    /// Starts `executable` with `arguments` and exactly `environment` (nil: this process's); standard input from the
    /// file at `input`, output and errors appended to the files at `output` and `errors` (nil:
    /// `/dev/null`), in `directory` (nil: this process's). The child gets no other descriptor
    /// of this process, default signal handling and an empty signal mask, as `Process` gives it.
    public init(
        executable: String, arguments: [String], environment: [String: String]? = nil,
        input: String? = nil, output: String? = nil, errors: String? = nil, directory: String? = nil
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, input ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output ?? "/dev/null", O_WRONLY | O_APPEND, 0)
        posix_spawn_file_actions_addopen(&actions, 2, errors ?? "/dev/null", O_WRONLY | O_APPEND, 0)
        if let closeFrom = Self.closeFrom { _ = closeFrom(&actions, 3) }
        if let directory {
            guard let changeDirectory = Self.changeDirectory else { throw POSIXError(.ENOSYS) }
            _ = directory.withCString { changeDirectory(&actions, $0) }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL) }
        self.processIdentifier = pid
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which the Glibc
    /// module does not export; nil where it is missing (the child then inherits this process's
    /// descriptors that lack close-on-exec).
    private static let closeFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// glibc's `posix_spawn_file_actions_addchdir_np` (2.29 and later), looked up the same way.
    private static let changeDirectory: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32).self)
    }()

    /// Runs `executable` to its end (a short, local program) and returns its exit status.
    ///
    /// Polls with `Task.sleep`: a test blocked in a wait would hold one of Swift's two
    /// concurrency threads (on Linux, of the dispatch pool they share) and with it every other
    /// test running at the same time, which is what left in-process HTTP tests timing out at the
    /// start of a run.
    @discardableResult
    public static func run(
        _ executable: String, _ arguments: [String], output: String? = nil, errors: String? = nil, directory: String? = nil
    ) async throws -> Int32 {
        let child = try Spawned(executable: executable, arguments: arguments, output: output, errors: errors, directory: directory)
        while child.isRunning { try await Task.sleep(for: .milliseconds(2)) }
        return child.terminationStatus
    }

    /// Runs the `openssl` command line in `directory`; throws ``Failed`` when it exits non-zero.
    /// For tests that make keys and signatures the way an operator or a peer would.
    public static func openssl(_ arguments: [String], in directory: String) async throws {
        let status = try await Self.run("/usr/bin/env", ["openssl"] + arguments, directory: directory)
        guard status == 0 else { throw Failed(command: (["openssl"] + arguments).joined(separator: " "), status: status) }
    }

    /// A program that exited with a status other than 0.
    public struct Failed: Error, CustomStringConvertible {
        public let command: String
        public let status: Int32
        public var description: String { "\(self.command) exited with status \(self.status)" }
    }

    /// The raw wait status once the child has ended (reaping it), nil while it runs.
    private func reap() -> Int32? {
        self.lock.lock()
        defer { self.lock.unlock() }
        if let status = self.status { return status }
        var raw: Int32 = 0
        guard waitpid(self.processIdentifier, &raw, WNOHANG) == self.processIdentifier else { return nil }
        self.status = raw
        return raw
    }

    public var isRunning: Bool { self.reap() == nil }

    /// The exit status, or the number of the signal that ended it (as `Process` reports).
    public var terminationStatus: Int32 {
        guard let raw = self.reap() else { return -1 }
        return raw & 0x7F == 0 ? (raw >> 8) & 0xFF : raw & 0x7F
    }

    /// SIGTERM.
    public func terminate() { if self.isRunning { kill(self.processIdentifier, SIGTERM) } }

    /// SIGINT.
    public func interrupt() { if self.isRunning { kill(self.processIdentifier, SIGINT) } }

}
