import Foundation
import RotorCore
import Synchronization

/// A clock that moves only when told: `sleep(until:)` returns once ``advance(to:)`` reaches the
/// deadline, so tests run days forward without sleeping.
final class TestClock: RotorClock {
    private struct State {
        var now: Date
        var sleepers: [UUID: (deadline: Date, continuation: CheckedContinuation<Void, any Error>)] = [:]
    }

    private let state: Mutex<State>

    init(_ now: Date = Date(timeIntervalSinceReferenceDate: 800_000_000)) {
        self.state = Mutex(State(now: now))
    }

    func now() -> Date { self.state.withLock { $0.now } }

    /// How many sleepers are waiting.
    var sleeping: Int { self.state.withLock { $0.sleepers.count } }

    func sleep(until deadline: Date) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool = self.state.withLock { state in
                    if deadline <= state.now || Task.isCancelled { return true }
                    state.sleepers[id] = (deadline, continuation)
                    return false
                }
                if resumeNow {
                    if Task.isCancelled { continuation.resume(throwing: CancellationError()) } else { continuation.resume() }
                }
            }
        } onCancel: {
            self.state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time to `date` and wakes every sleeper whose deadline it reaches.
    func advance(to date: Date) {
        let due = self.state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.now = max(state.now, date)
            let due = state.sleepers.filter { $0.value.deadline <= state.now }
            for id in due.keys { state.sleepers.removeValue(forKey: id) }
            return due.values.map(\.continuation)
        }
        for continuation in due { continuation.resume() }
    }

    /// Moves time forward by `interval`.
    func advance(by interval: TimeInterval) { self.advance(to: self.now().addingTimeInterval(interval)) }
}
