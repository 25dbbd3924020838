import RotorAgent
import Testing

/// Full jitter between 0 and a ceiling that doubles from 1 s to 60 s.
@Suite struct BackoffTests {
    /// A fixed sequence, so a draw is repeatable.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            self.state &+= 0x9E37_79B9_7F4A_7C15
            var z = self.state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("the ceiling doubles from 1 s and stops at 60 s")
    func ceilings() {
        let backoff = Backoff()
        #expect((0..<9).map { backoff.ceiling(attempt: $0) } == [1, 2, 4, 8, 16, 32, 60, 60, 60].map { Duration.seconds($0) })
        #expect(backoff.ceiling(attempt: 500) == .seconds(60))
    }

    @Test("every wait is within 0 and its ceiling, and the waits spread over the range rather than sit at the top")
    func jitterBounds() {
        var generator = SplitMix(state: 42)
        var backoff = Backoff()
        var late: [Duration] = []
        for attempt in 0..<200 {
            let ceiling = backoff.ceiling(attempt: attempt)
            let wait = backoff.next(using: &generator)
            #expect(wait >= .zero && wait <= ceiling, "attempt \(attempt): \(wait) > \(ceiling)")
            if attempt >= 10 { late.append(wait) }
        }
        #expect(late.contains { $0 < .seconds(20) } && late.contains { $0 > .seconds(40) }, "\(late)")
    }

    @Test("after a reset the next wait is at most 1 s again")
    func reset() {
        var backoff = Backoff()
        for _ in 0..<8 { _ = backoff.next() }
        #expect(backoff.attempt == 8)
        backoff.reset()
        #expect(backoff.next() <= .seconds(1))
        #expect(backoff.attempt == 1)
    }
}
