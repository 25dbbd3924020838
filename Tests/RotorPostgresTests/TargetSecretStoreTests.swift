import RotorStoreConformance
import Testing

/// ``TargetSecretStoreConformance`` on PostgreSQL.
@Suite(.postgresConfigured) struct TargetSecretStoreTests {
    let suite = TargetSecretStoreConformance()

    @Test("a roll with an overlap keeps the old secret as an envelope only; replacing the targets removes it")
    func rollKeepsPreviousEncrypted() async throws { try await self.suite.rollKeepsPreviousEncrypted(.postgres) }

    @Test("rolling an unknown target or credential is not_found and changes nothing")
    func rollUnknown() async throws { try await self.suite.rollUnknown(.postgres) }

    @Test("the delivery log numbers records per job, pages by cursor, and goes with the credential")
    func deliveryLog() async throws { try await self.suite.deliveryLog(.postgres) }
}
