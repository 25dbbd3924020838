import RotorStoreConformance
import Testing

/// ``KeyringRewrapConformance`` on SQLite.
@Suite struct KeyringRewrapTests {
    let suite = KeyringRewrapConformance()

    @Test("rewrap moves every envelope to the new KEK; with the old KEK removed every secret still opens")
    func rewrapThenRemove() async throws { try await self.suite.rewrapThenRemove(.sqlite) }

    @Test("an interrupted rewrap leaves every secret openable, and running it again finishes only what is left")
    func interruptAndResume() async throws { try await self.suite.interruptAndResume(.sqlite) }

    @Test("maxEnvelopes bounds one run; the next run continues where it stopped")
    func boundedRuns() async throws { try await self.suite.boundedRuns(.sqlite) }

    @Test("a secret changed or cleared between read and write is not overwritten by its re-wrapped old value")
    func compareAndSet() async throws { try await self.suite.compareAndSet(.sqlite) }

    @Test("online: rewrap beside a writer on another connection loses no write and leaves every secret openable")
    func concurrentWrites() async throws { try await self.suite.concurrentWrites(.sqlite) }

    @Test("an envelope under a KEK the keyring lacks is reported, not re-wrapped")
    func missingKeyIsAFailure() async throws { try await self.suite.missingKeyIsAFailure(.sqlite) }
}
