import Synchronization

/// Token buckets keyed by caller (a token, an address, a trigger id), behind one lock.
///
/// Each key's bucket holds up to `burst` tokens and refills at `rate` per second; a request
/// takes one. Memory is bounded: at most `capacity` keys are kept. A bucket that has refilled to
/// `burst` is indistinguishable from a missing one, so when the table is full those are dropped
/// first; if that frees too little (every key busy, e.g. a flood from many addresses), the
/// least recently used quarter goes, which at worst gives those callers a fresh bucket.
///
/// ``acquire(_:now:)`` is a lock, a dictionary lookup and arithmetic: no allocation once the key
/// is known. It runs on every authenticated request.
public final class RateLimiter: Sendable {
    /// The limit: a sustained rate with a burst allowance.
    public struct Limit: Sendable, Hashable {
        /// Tokens added per second (the sustained request rate).
        public var rate: Double
        /// The bucket's size: requests allowed at once after an idle period.
        public var burst: Int

        /// Creates a limit. `rate` must be positive and `burst` at least 1.
        public init(rate: Double, burst: Int) {
            precondition(rate > 0 && burst >= 1, "a rate limit needs a positive rate and a burst of at least 1")
            self.rate = rate
            self.burst = burst
        }
    }

    /// What ``acquire(_:now:)`` decided.
    public enum Decision: Sendable, Hashable {
        /// The request may proceed.
        case allowed
        /// The bucket is empty; a token will be available after this many seconds (at least 1,
        /// rounded up, as `Retry-After` needs whole seconds).
        case limited(retryAfter: Int)
    }

    private struct Bucket {
        var tokens: Double
        var updated: UInt64
    }

    private struct State {
        var buckets: [String: Bucket] = [:]
    }

    /// The limit every key gets.
    public let limit: Limit
    /// The most keys kept at once.
    public let capacity: Int
    private let state = Mutex(State())
    private let nanosecondsPerToken: Double
    private let refillNanoseconds: UInt64

    /// Creates a table for `limit` that keeps at most `capacity` keys.
    public init(limit: Limit, capacity: Int = 10_000) {
        precondition(capacity >= 4, "a rate limiter needs room for a few keys")
        self.limit = limit
        self.capacity = capacity
        self.nanosecondsPerToken = 1e9 / limit.rate
        // How long an empty bucket takes to refill completely: idle longer than that, a key is
        // as good as forgotten.
        self.refillNanoseconds = UInt64(min(Double(limit.burst) * 1e9 / limit.rate, Double(UInt64.max / 2)))
    }

    /// Whether `key`'s bucket has a token at `now`, without taking it.
    public func check(_ key: String, now: UInt64) -> Decision {
        self.state.withLock { state in
            guard let bucket = state.buckets[key] else { return .allowed }
            let elapsed = now >= bucket.updated ? Double(now - bucket.updated) : 0
            let tokens = min(Double(self.limit.burst), bucket.tokens + elapsed / self.nanosecondsPerToken)
            guard tokens >= 1 else { return .limited(retryAfter: max(1, Int(((1 - tokens) * self.nanosecondsPerToken / 1e9).rounded(.up)))) }
            return .allowed
        }
    }

    /// Takes one token from `key`'s bucket at `now` (monotonic nanoseconds, e.g.
    /// `NIODeadline.now().uptimeNanoseconds`).
    public func acquire(_ key: String, now: UInt64) -> Decision {
        let burst = Double(self.limit.burst)
        return self.state.withLock { state in
            let tokens: Double
            if let bucket = state.buckets[key] {
                let elapsed = now >= bucket.updated ? Double(now - bucket.updated) : 0
                tokens = min(burst, bucket.tokens + elapsed / self.nanosecondsPerToken)
            } else {
                if state.buckets.count >= self.capacity { self.evict(&state, now: now) }
                tokens = burst
            }
            guard tokens >= 1 else {
                // Not stored: a refused request does not spend anything, and the bucket's time
                // stays where its tokens were counted.
                let wait = (1 - tokens) * self.nanosecondsPerToken / 1e9
                return .limited(retryAfter: max(1, Int(wait.rounded(.up))))
            }
            state.buckets[key] = Bucket(tokens: tokens - 1, updated: now)
            return .allowed
        }
    }

    /// How many keys the table holds now (tests and diagnostics).
    public var count: Int { self.state.withLock { $0.buckets.count } }

    /// Drops refilled buckets; if that frees less than a quarter of the table, also the least
    /// recently used ones until it does. Runs only when the table is full, so its O(n log n)
    /// cost is spread over at least `capacity / 4` new keys.
    private func evict(_ state: inout State, now: UInt64) {
        state.buckets = state.buckets.filter { _, bucket in now < bucket.updated || now - bucket.updated < self.refillNanoseconds }
        let target = self.capacity - self.capacity / 4
        guard state.buckets.count > target else { return }
        let oldest = state.buckets.sorted { $0.value.updated < $1.value.updated }.prefix(state.buckets.count - target)
        for (key, _) in oldest { state.buckets[key] = nil }
    }
}
