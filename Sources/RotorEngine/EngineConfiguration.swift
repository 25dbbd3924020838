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
    /// How long one provider call may take (the provider client's request timeout). A create
    /// cut off without an answer (a crash, a lost lease, a cancel) may still take effect at the
    /// provider until this long after it was sent, so the resumed create, or the rollback, waits
    /// that out before it looks for the orphan (DESIGN.md §2 rule 2); looking sooner could miss a
    /// key that lands later.
    public var providerTimeout: Duration
    /// How recently an agent instance must have been heard from to count as live
    /// (`ROTOR_AGENT_LIVENESS`, default 2 minutes): a silent one neither blocks nor counts.
    public var agentLiveness: TimeInterval = 120
    /// How long `verify` waits for agent acknowledgements, unless the target sets
    /// `verify_timeout` (`ROTOR_AGENT_VERIFY_TIMEOUT`, default 5 minutes).
    public var agentVerifyTimeout: TimeInterval = 300

    /// The defaults: 64 jobs, 30 s leases, 1 s polling, the default retry policy, 10 s provider calls.
    public init(
        owner: String = EngineConfiguration.uniqueOwner(),
        maxConcurrentJobs: Int = 64,
        leaseDuration: TimeInterval = 30,
        pollInterval: Duration = .seconds(1),
        retry: RetryPolicy = RetryPolicy(),
        providerTimeout: Duration = .seconds(10)
    ) {
        self.owner = owner
        self.maxConcurrentJobs = max(1, maxConcurrentJobs)
        self.leaseDuration = leaseDuration
        self.pollInterval = pollInterval
        self.retry = retry
        self.providerTimeout = providerTimeout
    }

    /// `rotor-<host>-<pid>-<random>`.
    public static func uniqueOwner() -> String {
        "rotor-\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
    }
}
