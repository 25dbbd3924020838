import Synchronization

/// A table of values that are cheap to make again, shared between threads and bounded: an insert
/// of a new key into a full table empties it first. For the caches of encoded answers and decoded
/// rows, where any entry may be dropped at any time and the working set is far below the bound.
public final class BoundedTable<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let entries = Mutex<[Key: Value]>([:])
    /// The most entries kept.
    public let capacity: Int

    /// An empty table of at most `capacity` entries.
    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// The value kept for `key`, if any.
    public subscript(key: Key) -> Value? {
        self.entries.withLock { $0[key] }
    }

    /// Keeps `value` for `key`, emptying the table first when it is full and `key` is new.
    public func insert(_ value: Value, for key: Key) {
        self.entries.withLock { entries in
            if entries.count >= self.capacity, entries[key] == nil { entries.removeAll(keepingCapacity: true) }
            entries[key] = value
        }
    }

    /// How many entries are kept.
    public var count: Int { self.entries.withLock { $0.count } }
}
