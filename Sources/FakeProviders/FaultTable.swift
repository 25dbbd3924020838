public import NIOHTTP1

/// The faults a fake provider can be told to inject, aimed at one operation or at any: shared by
/// every fake in this module, so each behaves the same way under `failNext`, `rateLimitNext`,
/// `dropAfterCreate` and `setLatency`. A value type: the fake keeps it under its own lock.
public struct FaultTable<Operation: Hashable & Sendable>: Sendable {
    /// What a refused request answers.
    public enum Fault: Sendable, Hashable {
        /// The status (500, 503, 403, ...) in the provider's error shape, without effect.
        case fail(HTTPResponseStatus)
        /// 429, with `Retry-After` (or the provider's equivalent) when given.
        case rateLimit(retryAfter: Int?)
    }

    private struct Entry: Sendable {
        var fault: Fault
        var remaining: Int
        var operation: Operation?
    }

    private var entries: [Entry] = []
    private var latency: (duration: Duration, operation: Operation?)?
    private var drops = 0

    /// No faults.
    public init() {}

    /// The next `count` requests for `operation` (or any) answer `fault`.
    public mutating func add(_ fault: Fault, count: Int, on operation: Operation?) {
        guard count > 0 else { return }
        self.entries.append(Entry(fault: fault, remaining: count, operation: operation))
    }

    /// The fault the next request for `operation` meets, used up as it is taken; faults apply in
    /// the order they were added.
    public mutating func take(for operation: Operation) -> Fault? {
        guard let index = self.entries.firstIndex(where: { $0.operation == nil || $0.operation == operation }) else { return nil }
        let fault = self.entries[index].fault
        self.entries[index].remaining -= 1
        if self.entries[index].remaining == 0 { self.entries.remove(at: index) }
        return fault
    }

    /// Adds `duration` before every answer (or only `operation`'s); `.zero` removes it.
    public mutating func setLatency(_ duration: Duration, on operation: Operation?) {
        self.latency = duration > .zero ? (duration, operation) : nil
    }

    /// The latency a request for `operation` waits.
    public func latency(for operation: Operation) -> Duration? {
        guard let latency, latency.operation == nil || latency.operation == operation else { return nil }
        return latency.duration
    }

    /// The next `count` creates take effect and then lose their answer.
    public mutating func dropAfterCreate(_ count: Int) {
        self.drops += count
    }

    /// Whether this create's answer is to be dropped (using up one drop).
    public mutating func takeDrop() -> Bool {
        guard self.drops > 0 else { return false }
        self.drops -= 1
        return true
    }

    /// Removes every fault, latency and pending drop.
    public mutating func clear() {
        self = FaultTable()
    }
}

/// A fixed-window request limit per source address, refused requests counted too (as at a real
/// edge, so a client that ignores 429 stays limited).
struct RateWindows: Sendable {
    let limit: Int
    let window: Duration
    private var windows: [String: (start: ContinuousClock.Instant, count: Int)] = [:]

    init(limit: Int, window: Duration) {
        self.limit = limit
        self.window = window
    }

    /// Counts a request from `source`; false when it is over the limit. Also answers the seconds
    /// until the window resets.
    mutating func admit(_ source: String, now: ContinuousClock.Instant) -> (allowed: Bool, resetIn: Int) {
        var current = self.windows[source] ?? (start: now, count: 0)
        if now - current.start >= self.window { current = (start: now, count: 0) }
        current.count += 1
        self.windows[source] = current
        let left = self.window - (now - current.start)
        return (current.count <= self.limit, max(1, Int(left.components.seconds)))
    }
}
