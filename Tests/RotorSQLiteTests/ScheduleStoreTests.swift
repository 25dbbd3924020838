import RotorStoreConformance
import Testing

/// ``ScheduleStoreConformance`` on SQLite.
@Suite struct ScheduleStoreTests {
    let suite = ScheduleStoreConformance()

    @Test("due credentials are the active ones at or before now, earliest first; the earliest time ignores the rest")
    func dueAndEarliest() async throws { try await self.suite.dueAndEarliest(.sqlite) }

    @Test("a scheduled start is a compare-and-set on next_rotation_at: once, and not over an active job")
    func startOnce() async throws { try await self.suite.startOnce(.sqlite) }

    @Test("a commit that records a rotation computes next_rotation_at afresh; other commits keep it")
    func rescheduleOnSuccess() async throws { try await self.suite.rescheduleOnSuccess(.sqlite) }
}
