/// Waiting, in a test, for something another task, thread or process does.
public enum Poll {
    /// Returns once `condition` holds, looking again every `interval`; throws ``TimedOut`` naming
    /// `what` if it has not held within `limit`.
    ///
    /// The limit is generous on purpose: on a loaded 2-core machine a task can wait seconds for a
    /// thread, and a condition that holds returns at once, so only a failing test waits it out.
    public static func until(
        _ what: String, within limit: Duration = .seconds(20), every interval: Duration = .milliseconds(10),
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + limit
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw TimedOut(what: what, limit: limit) }
            try await Task.sleep(for: interval)
        }
    }

    /// A condition that did not come to hold in time.
    public struct TimedOut: Error, CustomStringConvertible {
        public let what: String
        public let limit: Duration
        public var description: String { "timed out after \(self.limit) waiting until \(self.what)" }
    }
}
