/// Exponential backoff with full jitter: the n-th wait in a row is uniform in
/// `0 ... min(cap, base · 2ⁿ)`, so agents that lost Rotor together do not come back together.
package struct Backoff: Sendable {
    package var base: Duration
    package var cap: Duration
    /// Waits taken since the last success.
    package private(set) var attempt = 0

    package init(base: Duration = .seconds(1), cap: Duration = .seconds(60)) {
        self.base = base
        self.cap = cap
    }

    /// The most the wait after `attempt` failures in a row can be.
    package func ceiling(attempt: Int) -> Duration {
        let factor = Double(1 << min(attempt, 30))
        return min(self.cap, self.base * factor)
    }

    /// The next wait, drawn from `generator`.
    package mutating func next(using generator: inout some RandomNumberGenerator) -> Duration {
        let ceiling = self.ceiling(attempt: self.attempt)
        self.attempt += 1
        let milliseconds = ceiling.components.seconds * 1000 + ceiling.components.attoseconds / 1_000_000_000_000_000
        return .milliseconds(Int64.random(in: 0...max(0, milliseconds), using: &generator))
    }

    package mutating func next() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return self.next(using: &generator)
    }

    /// After a success: the next failure waits at most `base` again.
    package mutating func reset() { self.attempt = 0 }
}
