import RotorStoreConformance
import Testing

/// ``OutboxStoreConformance`` on SQLite.
@Suite struct OutboxStoreTests {
    let suite = OutboxStoreConformance()

    @Test("a job's start and end are written to the outbox in the commit that makes them, for the subscriptions that want them")
    func jobEventsInTheCommit() async throws { try await self.suite.jobEventsInTheCommit(.sqlite) }

    @Test("a refused commit writes no event: the outbox row goes with the change or not at all")
    func refusedCommitWritesNothing() async throws { try await self.suite.refusedCommitWritesNothing(.sqlite) }

    @Test("a failed job reports job.failed and credential.attention; a cancelled queued job reports job.cancelled")
    func failureAndCancel() async throws { try await self.suite.failureAndCancel(.sqlite) }

    @Test("claimed deliveries are leased; delivered ones are done; retries wait; failures stop; lapsed leases are taken over")
    func claimAndRecord() async throws { try await self.suite.claimAndRecord(.sqlite) }

    @Test("releasing an owner's leases makes its in-flight deliveries claimable at once (a restart resends them)")
    func releaseLeases() async throws { try await self.suite.releaseLeases(.sqlite) }

    @Test("subscriptions list in pages; deleting one removes its deliveries and its secret; deliveries page newest first")
    func subscriptionsAndPaging() async throws { try await self.suite.subscriptionsAndPaging(.sqlite) }

    @Test("credential.expiring is written once per key, only within before_expiry, only with before_expiry set")
    func expiring() async throws { try await self.suite.expiring(.sqlite) }
}
