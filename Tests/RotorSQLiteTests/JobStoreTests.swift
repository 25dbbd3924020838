import RotorStoreConformance
import Testing

/// ``JobStoreConformance`` on SQLite.
@Suite struct JobStoreTests {
    let suite = JobStoreConformance()

    @Test("a created job reads back equal at revision 1, and its credential turns rotating")
    func roundTrip() async throws { try await self.suite.roundTrip(.sqlite) }

    @Test("a job for an unknown credential is refused as notFound")
    func unknownCredential() async throws { try await self.suite.unknownCredential(.sqlite) }

    @Test(
        "a job's old key and targets are the credential's as the inserting transaction reads it: a previous job's final commit after the caller's read is not lost")
    func oldKeyFromTheInsertingTransaction() async throws { try await self.suite.oldKeyFromTheInsertingTransaction(.sqlite) }

    @Test("a job for a disabled credential is refused as credentialDisabled, and nothing is stored")
    func disabledCredential() async throws { try await self.suite.disabledCredential(.sqlite) }

    @Test("a second active job for a credential is refused with the first job's id; after it ends, a new one is accepted")
    func oneActiveJobPerCredential() async throws { try await self.suite.oneActiveJobPerCredential(.sqlite) }

    @Test("an idempotency key replays the same request's job and refuses a different request")
    func idempotency() async throws { try await self.suite.idempotency(.sqlite) }

    @Test("an idempotency key lasts 24 h: after that the same key and request start a new job")
    func idempotencyExpires() async throws { try await self.suite.idempotencyExpires(.sqlite) }

    @Test("jobs list newest first, filter by credential and by state, and page")
    func listing() async throws { try await self.suite.listing(.sqlite) }

    @Test("events get seq 1, 2, … in order across creation, commits and cancel")
    func events() async throws { try await self.suite.events(.sqlite) }
}
