import ChildProcess
import Foundation
import RotorCore
import RotorCrypto
import RotorSQLite
import RotorStoreConformance
import Testing

/// ``TriggerStoreConformance`` on SQLite.
@Suite struct TriggerStoreTests {
    let suite = TriggerStoreConformance()

    @Test("a trigger round-trips; its secrets are sealed (no plaintext or base64 on disk); a roll keeps the old secret only until the overlap ends")
    func triggersAndSecrets() async throws { try await self.suite.triggersAndSecrets(.sqlite) }

    @Test("the replay log answers the first delivery's jobs within the window and forgets older ones")
    func replayLog() async throws { try await self.suite.replayLog(.sqlite) }

    @Test("the current-key index follows the current key: set at creation, moved by the commit that swaps keys")
    func currentKeyIndex() async throws { try await self.suite.currentKeyIndex(.sqlite) }

    @Test("expediting takes the grace period out once, bumps the revision so a runner's older copy cannot write it back, and leaves finished jobs alone")
    func expedite() async throws { try await self.suite.expedite(.sqlite) }

    @Test("a database from before the index gets it backfilled when opened")
    func backfill() async throws {
        let fixture = try await SQLiteFixture.opened()
        defer { fixture.cleanup() }
        let credential = Sample.credential()
        try await fixture.store.createCredential(credential, secrets: Sample.secrets(for: credential, current: "backfilled-key"))
        let digest = SHA256.hexDigest("backfilled-key")
        // As a database written before the column existed would look.
        try #require(try await Spawned.run("/usr/bin/sqlite3", [fixture.path, "UPDATE credentials SET current_key_sha256 = NULL;"]) == 0)
        #expect(try await fixture.store.credentialIDs(currentKeySHA256: [digest]).isEmpty)

        let reopened = try await SQLiteStore.connect(path: fixture.path, keyring: fixture.keyring)
        #expect(try await reopened.credentialIDs(currentKeySHA256: [digest]) == [digest: credential.id])
    }
}
