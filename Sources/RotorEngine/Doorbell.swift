import Synchronization

/// How a polling loop is woken early: `wait(upTo:)` returns when the bell rings or when the poll
/// interval has passed, and a ring while nobody waits is kept for the next wait, so no wake-up
/// between two waits is lost. The engine and the outbox dispatcher share it.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Wakes the waiter, or the next one.
    func ring() {
        let waiter = self.state.withLock { state in
            guard let waiter = state.waiter else {
                state.rung = true
                return nil as CheckedContinuation<Void, Never>?
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns at once if the bell rang since the last wait; else when it rings, or after `interval`.
    func wait(upTo interval: Duration) async {
        let timer = Task {
            // A cancelled timer (the bell rang first) must not ring for the next wait.
            guard (try? await Task.sleep(for: interval)) != nil else { return }
            self.ring()
        }
        defer { timer.cancel() }
        await withCheckedContinuation { continuation in
            let rang = self.state.withLock { state in
                if state.rung {
                    state.rung = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if rang { continuation.resume() }
        }
    }
}
