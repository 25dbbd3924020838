public import Foundation

/// Wall-clock time for the engine and scheduler, injectable so that tests run time forward
/// without sleeping (STYLE.md: engines take a clock).
public protocol RotorClock: Sendable {
    /// The current time.
    func now() -> Date
    /// Returns at `deadline` (or at once if it has passed); throws on cancellation.
    func sleep(until deadline: Date) async throws
}

/// The system's clock.
public struct SystemClock: RotorClock {
    /// Creates the clock.
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until deadline: Date) async throws {
        let interval = deadline.timeIntervalSinceNow
        if interval > 0 {
            try await Task.sleep(for: .milliseconds(Int64((interval * 1000).rounded(.up))))
        }
    }
}
