import RotorStoreConformance
import Testing

/// ``StoreSecretsConformance`` on PostgreSQL.
@Suite(.postgresConfigured) struct StoreSecretsTests {
    let suite = StoreSecretsConformance()

    @Test("no plaintext secret, nor its base64, is stored; the secrets still read back")
    func noPlaintextStored() async throws { try await self.suite.noPlaintextStored(.postgres) }

    @Test("data survives reopening; without the KEK, opening a secret fails with an error naming it")
    func reopenWithoutKEK() async throws { try await self.suite.reopenWithoutKEK(.postgres) }
}
