/// How many jobs are in one state (and, for jobs still underway, one step).
public struct JobCount: Sendable, Hashable {
    /// The state.
    public var state: JobState
    /// The step, for `queued` and `running` jobs; nil for terminal states, which are counted
    /// whatever step they ended in.
    public var step: JobStep?
    /// How many.
    public var count: Int

    /// Creates a count.
    public init(state: JobState, step: JobStep?, count: Int) {
        self.state = state
        self.step = step
        self.count = count
    }
}

/// What `GET /metrics` reads from the store at each scrape: cheap aggregate counts.
public protocol MetricsStore: Sendable {
    /// Jobs by state; `queued` and `running` ones also by step.
    func jobCounts() async throws -> [JobCount]
    /// Outbox deliveries not yet delivered or given up (state `pending`).
    func pendingDeliveryCount() async throws -> Int
}
