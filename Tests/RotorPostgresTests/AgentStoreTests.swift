import RotorStoreConformance
import Testing

/// ``AgentStoreConformance`` on PostgreSQL.
@Suite(.postgresConfigured) struct AgentStoreTests {
    let suite = AgentStoreConformance()

    @Test("instances are recorded from key fetches and acknowledgements; a replay or another group changes nothing")
    func instances() async throws { try await self.suite.instances(.postgres) }

    @Test("an acknowledgement makes the job waiting in verify due at once and moves its revision; the stored verify deadline survives")
    func acknowledgementWakesVerify() async throws { try await self.suite.acknowledgementWakesVerify(.postgres) }
}
