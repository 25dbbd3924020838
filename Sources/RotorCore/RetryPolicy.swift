/// When to try a failed step again: exponential backoff with full jitter, bounded per step
/// (DESIGN.md §2 rule 5; `ROTOR_RETRY_BASE`, `ROTOR_RETRY_MAX`, `ROTOR_STEP_ATTEMPTS`).
public struct RetryPolicy: Sendable, Hashable {
    /// The first backoff ceiling.
    public var base: Duration
    /// The cap on any one wait.
    public var maximum: Duration
    /// Attempts per step before it fails for good.
    public var attemptsPerStep: Int

    /// The defaults: 1 s base, 5 min cap, 8 attempts.
    public init(base: Duration = .seconds(1), maximum: Duration = .seconds(300), attemptsPerStep: Int = 8) {
        self.base = base
        self.maximum = maximum
        self.attemptsPerStep = attemptsPerStep
    }

    /// The wait before attempt `attempt + 1`, after `attempt` failures (1-based), or nil when the
    /// step has used up its attempts.
    ///
    /// Full jitter: uniformly random in `0...min(maximum, base · 2^(attempt-1))`, so that many
    /// jobs failing together do not retry in step. A provider's `Retry-After` is a floor (capped
    /// at `maximum`): retrying sooner would only be refused again.
    public func delay(
        afterAttempt attempt: Int,
        retryAfter: Duration? = nil,
        using generator: inout some RandomNumberGenerator
    ) -> Duration? {
        guard attempt < self.attemptsPerStep else { return nil }
        let exponent = min(max(attempt - 1, 0), 40)
        let ceiling = min(self.maximum, self.base * (1 << exponent))
        let ceilingNanoseconds = max(0, ceiling.nanoseconds)
        let jittered = Duration.nanoseconds(ceilingNanoseconds == 0 ? 0 : Int64.random(in: 0...ceilingNanoseconds, using: &generator))
        guard let retryAfter else { return jittered }
        return max(jittered, min(retryAfter, self.maximum))
    }
}

extension Duration {
    /// The whole duration in nanoseconds, saturating.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        return scaled + attoseconds / 1_000_000_000
    }
}
