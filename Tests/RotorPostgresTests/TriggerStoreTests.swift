import RotorStoreConformance
import Testing

/// ``TriggerStoreConformance`` on PostgreSQL.
@Suite(.postgresConfigured) struct TriggerStoreTests {
    let suite = TriggerStoreConformance()

    @Test("a trigger round-trips; its secrets are sealed (no plaintext or base64 on disk); a roll keeps the old secret only until the overlap ends")
    func triggersAndSecrets() async throws { try await self.suite.triggersAndSecrets(.postgres) }

    @Test("the replay log answers the first delivery's jobs within the window and forgets older ones")
    func replayLog() async throws { try await self.suite.replayLog(.postgres) }

    @Test("the current-key index follows the current key: set at creation, moved by the commit that swaps keys")
    func currentKeyIndex() async throws { try await self.suite.currentKeyIndex(.postgres) }

    @Test("expediting takes the grace period out once, bumps the revision so a runner's older copy cannot write it back, and leaves finished jobs alone")
    func expedite() async throws { try await self.suite.expedite(.postgres) }
}
