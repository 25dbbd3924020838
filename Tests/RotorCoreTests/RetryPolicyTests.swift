import RotorCore
import Testing

/// A deterministic generator (SplitMix64) so jitter is reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy(base: .seconds(1), maximum: .seconds(60), attemptsPerStep: 8)

    @Test("delays stay within the exponential ceiling and the cap, and vary (full jitter)")
    func bounds() throws {
        var generator = SeededGenerator(state: 42)
        for attempt in 1..<8 {
            let ceiling = min(Duration.seconds(60), .seconds(1 << (attempt - 1)))
            var seen = Set<Duration>()
            for _ in 0..<200 {
                let delay = try #require(self.policy.delay(afterAttempt: attempt, using: &generator))
                #expect(delay >= .zero && delay <= ceiling)
                seen.insert(delay)
            }
            #expect(seen.count > 100)
        }
    }

    @Test("after the last attempt there is no retry")
    func exhausted() {
        var generator = SeededGenerator(state: 1)
        #expect(self.policy.delay(afterAttempt: 8, using: &generator) == nil)
        #expect(self.policy.delay(afterAttempt: 7, using: &generator) != nil)
    }

    @Test("Retry-After is a floor, capped at the maximum")
    func retryAfter() throws {
        var generator = SeededGenerator(state: 7)
        for _ in 0..<50 {
            let delay = try #require(self.policy.delay(afterAttempt: 1, retryAfter: .seconds(30), using: &generator))
            #expect(delay == .seconds(30))
        }
        let capped = self.policy.delay(afterAttempt: 1, retryAfter: .seconds(3600), using: &generator)
        #expect(capped == .seconds(60))
    }
}

@Suite struct ProviderErrorTests {
    @Test("statuses are classified as DESIGN.md §2 rule 5 says", arguments: [
        (429, true), (500, true), (502, true), (503, true), (408, true), (400, false), (401, false), (403, false), (422, false),
    ])
    func classify(status: Int, transient: Bool) {
        #expect(ProviderError.classify(status: status, message: "x").isTransient == transient)
    }

    @Test("Retry-After travels with a transient error")
    func retryAfter() {
        let error = ProviderError.classify(status: 429, retryAfter: .seconds(2), message: "slow down")
        #expect(error.kind == .transient(retryAfter: .seconds(2)))
        #expect(error.description == "HTTP 429: slow down")
    }
}
