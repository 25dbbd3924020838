import RotorStoreConformance
import Testing

/// ``AgentStoreConformance`` on SQLite.
@Suite struct AgentStoreTests {
    let suite = AgentStoreConformance()

    @Test("instances are recorded from key fetches and acknowledgements; a replay or another group changes nothing")
    func instances() async throws { try await self.suite.instances(.sqlite) }

    @Test("an acknowledgement makes the job waiting in verify due at once and moves its revision; the stored verify deadline survives")
    func acknowledgementWakesVerify() async throws { try await self.suite.acknowledgementWakesVerify(.sqlite) }
}
