import RotorStoreConformance
import Testing

/// ``CredentialStoreConformance`` on PostgreSQL.
@Suite(.postgresConfigured) struct CredentialStoreTests {
    let suite = CredentialStoreConformance()

    @Test("a credential reads back equal, with secrets, and with a Date() taken now")
    func roundTrip() async throws { try await self.suite.roundTrip(.postgres) }

    @Test("a second credential with the same name is refused as duplicateName")
    func duplicateName() async throws { try await self.suite.duplicateName(.postgres) }

    @Test(
        "a key another credential holds is refused as duplicateKey naming that credential: same key id, same secret, its previous key, its job's new key")
    func duplicateKey() async throws { try await self.suite.duplicateKey(.postgres) }

    @Test("of several registrations of one key at once, exactly one is stored")
    func duplicateKeyConcurrently() async throws { try await self.suite.duplicateKeyConcurrently(.postgres) }

    @Test("credentials list by name in pages, each name once")
    func paging() async throws { try await self.suite.paging(.postgres) }

    @Test("update replaces metadata and exactly the given signing secrets")
    func update() async throws { try await self.suite.update(.postgres) }

    @Test("delete removes the credential, its secrets and its finished jobs; refused while a job is active")
    func delete() async throws { try await self.suite.delete(.postgres) }
}
