import RotorStoreConformance
import Testing

/// ``LeaseAndCommitConformance`` on PostgreSQL.
@Suite(.postgresConfigured) struct LeaseAndCommitTests {
    let suite = LeaseAndCommitConformance()

    @Test("a commit that moves a job to another step or state, and a cancel that changes it, tell the served-key observers; others do not")
    func servedKeyNotifications() async throws { try await self.suite.servedKeyNotifications(.postgres) }

    @Test("a queued job is claimed once; another owner gets it only after the lease lapses")
    func claim() async throws { try await self.suite.claim(.postgres) }

    @Test("claims honour limit and creation order")
    func claimOrderAndLimit() async throws { try await self.suite.claimOrderAndLimit(.postgres) }

    @Test("a claim skips jobs leased to the claimer too, so its limit goes to new work; releaseLeases frees all of one owner's")
    func ownLeasesAndRestart() async throws { try await self.suite.ownLeasesAndRestart(.postgres) }

    @Test("rotation(knownJob:) reuses the runner's job only while the stored revision is the same")
    func knownJobReuse() async throws { try await self.suite.knownJobReuse(.postgres) }

    @Test("renew extends only the holder's lease; release frees only the holder's lease")
    func renewAndRelease() async throws { try await self.suite.renewAndRelease(.postgres) }

    @Test("a job whose next attempt is in the future is not claimed until then")
    func backoff() async throws { try await self.suite.backoff(.postgres) }

    @Test("commit needs the lease and the read revision, and increments the revision")
    func commitGuards() async throws { try await self.suite.commitGuards(.postgres) }

    @Test("secret changes: pending key set then cleared, current and previous swapped")
    func secretChanges() async throws { try await self.suite.secretChanges(.postgres) }

    @Test("cancelling a queued job cancels it and returns its credential to active")
    func cancelQueued() async throws { try await self.suite.cancelQueued(.postgres) }

    @Test("cancelling once revoke has begun rethrows the transition error and changes nothing")
    func cancelTooLate() async throws { try await self.suite.cancelTooLate(.postgres) }
}
