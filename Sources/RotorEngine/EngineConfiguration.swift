public import Foundation
public import RotorCore

/// How the engine runs jobs (DESIGN.md §5: `ROTOR_RETRY_*`, `ROTOR_STEP_ATTEMPTS`,
/// `ROTOR_MAX_CONCURRENT_JOBS`).
public struct EngineConfiguration: Sendable {
    /// This instance's name on leases; unique per process.
    public var owner: String
    /// Jobs worked on at once.
    public var maxConcurrentJobs: Int
    /// How long a lease lasts unless renewed (renewed before every step).
    public var leaseDuration: TimeInterval
    /// How often to look for due jobs when nothing wakes the engine.
    public var pollInterval: Duration
    /// Backoff and attempts per step.
    public var retry: RetryPolicy

    /// The defaults: 64 jobs, 30 s leases, 1 s polling, the default retry policy.
    public init(
        owner: String = EngineConfiguration.uniqueOwner(),
        maxConcurrentJobs: Int = 64,
        leaseDuration: TimeInterval = 30,
        pollInterval: Duration = .seconds(1),
        retry: RetryPolicy = RetryPolicy()
    ) {
        self.owner = owner
        self.maxConcurrentJobs = max(1, maxConcurrentJobs)
        self.leaseDuration = leaseDuration
        self.pollInterval = pollInterval
        self.retry = retry
    }

    /// `rotor-<host>-<pid>-<random>`.
    public static func uniqueOwner() -> String {
        "rotor-\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
    }
}
