import RotorStoreConformance
import Testing

/// ``OutboxStoreConformance`` on PostgreSQL.
@Suite(.postgresConfigured) struct OutboxStoreTests {
    let suite = OutboxStoreConformance()

    @Test("a job's start and end are written to the outbox in the commit that makes them, for the subscriptions that want them")
    func jobEventsInTheCommit() async throws { try await self.suite.jobEventsInTheCommit(.postgres) }

    @Test("a refused commit writes no event: the outbox row goes with the change or not at all")
    func refusedCommitWritesNothing() async throws { try await self.suite.refusedCommitWritesNothing(.postgres) }

    @Test("a failed job reports job.failed and credential.attention; a cancelled queued job reports job.cancelled")
    func failureAndCancel() async throws { try await self.suite.failureAndCancel(.postgres) }

    @Test("claimed deliveries are leased; delivered ones are done; retries wait; failures stop; lapsed leases are taken over")
    func claimAndRecord() async throws { try await self.suite.claimAndRecord(.postgres) }

    @Test("releasing an owner's leases makes its in-flight deliveries claimable at once (a restart resends them)")
    func releaseLeases() async throws { try await self.suite.releaseLeases(.postgres) }

    @Test("subscriptions list in pages; deleting one removes its deliveries and its secret; deliveries page newest first")
    func subscriptionsAndPaging() async throws { try await self.suite.subscriptionsAndPaging(.postgres) }

    @Test("credential.expiring is written once per key, only within before_expiry, only with before_expiry set")
    func expiring() async throws { try await self.suite.expiring(.postgres) }
}
