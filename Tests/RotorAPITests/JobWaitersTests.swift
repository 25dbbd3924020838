import Foundation
import RotorAPI
import RotorCore
import Testing

/// ``JobWaiters``: a wait ends on its job's notification (even one that came before the wait
/// began), on a `nil` notification, or at its deadline; other jobs' notifications do not end it;
/// a cancelled ticket leaves nothing behind.
@Suite(.timeLimit(.minutes(1))) struct JobWaitersTests {
    /// Well before the 30 s deadlines the waits are given, and long enough that a starved test
    /// process (the whole suite runs in parallel on two cores, beside the process tests'
    /// servers) is not taken for a wait that missed its wake-up.
    static let promptly: Duration = .seconds(20)

    private let job = JobID(unchecked: "job_a")
    private let other = JobID(unchecked: "job_b")

    @Test("a notification for the job wakes its waiter at once, not another job's waiter")
    func notify() async throws {
        let waiters = JobWaiters()
        let ticket = waiters.register(self.job)
        let unrelated = waiters.register(self.other)
        let start = ContinuousClock.now
        let waiting = Task { await ticket.wait(until: .now + .seconds(30), disconnect: nil) }
        try await Task.sleep(for: .milliseconds(50))
        waiters.notify(self.other)
        try await Task.sleep(for: .milliseconds(50))
        waiters.notify(self.job)
        await waiting.value
        #expect(ContinuousClock.now - start < Self.promptly)
        ticket.cancel()
        unrelated.cancel()
        #expect(waiters.count == 0)
    }

    @Test("a notification between registering and waiting is not lost")
    func notifiedBeforeWaiting() async throws {
        let waiters = JobWaiters()
        let ticket = waiters.register(self.job)
        waiters.notify(self.job)
        let start = ContinuousClock.now
        await ticket.wait(until: .now + .seconds(30), disconnect: nil)
        #expect(ContinuousClock.now - start < Self.promptly)
        ticket.cancel()
    }

    @Test("a nil notification (a reconnected listener) wakes every waiter")
    func notifyAll() async throws {
        let waiters = JobWaiters()
        let tickets = [waiters.register(self.job), waiters.register(self.other)]
        let start = ContinuousClock.now
        let waiting = tickets.map { ticket in Task { await ticket.wait(until: .now + .seconds(30), disconnect: nil) } }
        try await Task.sleep(for: .milliseconds(50))
        waiters.notify(nil)
        for task in waiting { await task.value }
        #expect(ContinuousClock.now - start < Self.promptly)
        for ticket in tickets { ticket.cancel() }
        #expect(waiters.count == 0)
    }

    @Test("without a notification the wait ends at its deadline, and the ticket can wait again")
    func deadline() async throws {
        let waiters = JobWaiters()
        let ticket = waiters.register(self.job)
        let start = ContinuousClock.now
        await ticket.wait(until: .now + .milliseconds(200), disconnect: nil)
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(190) && elapsed < Self.promptly)
        let again = Task { await ticket.wait(until: .now + .seconds(30), disconnect: nil) }
        try await Task.sleep(for: .milliseconds(50))
        waiters.notify(self.job)
        await again.value
        #expect(ContinuousClock.now - start < Self.promptly)
        ticket.cancel()
        #expect(waiters.count == 0)
    }

    @Test("many waits with their own deadlines each end at theirs, not before; one woken early disturbs none")
    func manyDeadlines() async throws {
        let waiters = JobWaiters()
        let start = ContinuousClock.now
        // Registered latest deadline first, so the timer is set again for each sooner one.
        let offsets = (1...20).reversed().map { Duration.milliseconds(50 * $0) }
        let tickets = offsets.map { _ in waiters.register(self.job) }
        let early = waiters.register(self.other)
        let earlyWait = Task { await early.wait(until: start + .seconds(30), disconnect: nil) }
        let waits = zip(tickets, offsets).map { ticket, offset in
            Task { () -> Duration in
                await ticket.wait(until: start + offset, disconnect: nil)
                return ContinuousClock.now - start
            }
        }
        try await Task.sleep(for: .milliseconds(20))
        waiters.notify(self.other)
        await earlyWait.value
        #expect(ContinuousClock.now - start < Self.promptly, "the early wait was not woken by its notification")
        for (wait, offset) in zip(waits, offsets) {
            let ended = await wait.value
            #expect(ended >= offset, "a wait for \(offset) ended after \(ended)")
            #expect(ended < offset + Self.promptly)
        }
        for ticket in tickets + [early] { ticket.cancel() }
        #expect(waiters.count == 0)
    }

    @Test("a cancelled task stops waiting")
    func cancelled() async throws {
        let waiters = JobWaiters()
        let ticket = waiters.register(self.job)
        let start = ContinuousClock.now
        let waiting = Task { await ticket.wait(until: .now + .seconds(30), disconnect: nil) }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        await waiting.value
        #expect(ContinuousClock.now - start < Self.promptly)
        ticket.cancel()
        #expect(waiters.count == 0)
    }
}
