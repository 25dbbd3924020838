@testable import RotorEngine
import Testing

@Suite struct DoorbellTests {
    @Test("a ring while nobody waits is kept: the next wait returns at once, and only that one")
    func ringBeforeWait() async {
        let bell = Doorbell()
        bell.ring()
        let clock = ContinuousClock()
        // Bounds far apart (30 s against 15 s), so that a loaded machine cannot blur them.
        let first = await clock.measure { await bell.wait(upTo: .seconds(30)) }
        #expect(first < .seconds(15))
        let second = await clock.measure { await bell.wait(upTo: .milliseconds(200)) }
        #expect(second >= .milliseconds(200))
    }

    @Test("a ring during a wait ends it early; a cancelled timer does not ring for the next wait")
    func ringDuringWait() async throws {
        let bell = Doorbell()
        let clock = ContinuousClock()
        async let waited = clock.measure { await bell.wait(upTo: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(100))
        bell.ring()
        #expect(await waited < .seconds(15))
        let next = await clock.measure { await bell.wait(upTo: .milliseconds(200)) }
        #expect(next >= .milliseconds(200))
    }
}
