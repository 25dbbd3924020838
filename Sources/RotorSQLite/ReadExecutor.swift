import Foundation
import GRDB
import Synchronization

/// Runs store reads on a thread of its own, never on Swift's cooperative threads.
///
/// SQLite's API is synchronous. A read called on a cooperative thread blocks that thread, and
/// there are only as many of them as cores (two here). GRDB's reader pool makes that a deadlock,
/// not just a stall: a reader taken by an async read is handed back only when that read resumes
/// on a cooperative thread, so once every cooperative thread waits in the pool for a reader, no
/// reader ever comes back (issue 11: 400 concurrent authenticated reads hung the server for good).
/// Rule: nothing on a cooperative thread waits for a resource that only cooperative threads
/// release. So every read is queued here; a dedicated thread takes reads off the queue and runs
/// them, and a waiting caller is a suspended continuation, not a blocked thread.
///
/// Batching: the thread takes every read waiting (up to ``maximumBatch``) and runs them one after
/// another in one read transaction on one pooled connection, then resumes their callers. Under
/// load that spends one reader checkout and one `BEGIN`/`COMMIT` on many reads, and a thread that
/// finds more work waiting never sleeps between batches. Each read still sees every write that
/// completed before it was queued (the transaction begins after it was queued), and one read's
/// error fails that read only.
final class ReadExecutor: Sendable {
    /// The most reads run in one transaction.
    static let maximumBatch = 64

    private struct Work: Sendable {
        /// Runs the read and resumes its caller.
        let run: @Sendable (Database) -> Void
        /// Resumes its caller with an error, when no connection could be had for the batch.
        let fail: @Sendable (any Error) -> Void
    }

    private struct State {
        var queue: [Work] = []
        /// Where the next batch starts in `queue` (a cheap FIFO: reset once drained).
        var head = 0
        var threadIsIdle = false
        var closed = false
    }

    private let pool: DatabasePool
    /// Guards `state`; the condition wakes the thread when it is idle. `NSCondition` is used
    /// instead of `Mutex` because the thread must sleep until work arrives.
    private let condition = NSCondition()
    // `nonisolated(unsafe)`: every access holds `condition`'s lock.
    private nonisolated(unsafe) var state = State()

    /// Starts the reader thread, named `label` (`Thread.start(named:_:)`), over `pool`.
    ///
    /// One thread: a second one on the same queue measured 10–20 % fewer point reads a second
    /// on 2 cores (docs/performance.md), splitting each burst into smaller batches and
    /// contending with the threads that serve the requests.
    init(pool: DatabasePool, label: String) {
        self.pool = pool
        Thread.start(named: label) { [self] in self.serve() }
    }

    /// Runs `body` on a reader thread inside a read transaction and returns its result.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let work = Work(
                run: { db in continuation.resume(with: Result { try body(db) }) },
                fail: { error in continuation.resume(throwing: error) }
            )
            self.condition.lock()
            if self.state.closed {
                self.condition.unlock()
                continuation.resume(throwing: DatabaseError(resultCode: .SQLITE_MISUSE, message: "the store is closed"))
                return
            }
            self.state.queue.append(work)
            let wake = self.state.threadIsIdle
            self.condition.unlock()
            if wake { self.condition.signal() }
        }
    }

    /// Lets the thread end once the queue is empty; later reads fail.
    func close() {
        self.condition.lock()
        self.state.closed = true
        self.condition.unlock()
        self.condition.broadcast()
    }

    private func serve() {
        while let batch = self.nextBatch() {
            do {
                try self.pool.read { db in
                    for work in batch { work.run(db) }
                }
            } catch {
                // No connection, or the transaction could not begin: nothing ran.
                for work in batch { work.fail(error) }
            }
        }
    }

    /// The next reads to run, waiting for some; nil once closed and drained.
    private func nextBatch() -> [Work]? {
        self.condition.lock()
        defer { self.condition.unlock() }
        while self.state.head == self.state.queue.count {
            if self.state.closed { return nil }
            self.state.threadIsIdle = true
            self.condition.wait()
            self.state.threadIsIdle = false
        }
        let end = min(self.state.queue.count, self.state.head + Self.maximumBatch)
        let batch = Array(self.state.queue[self.state.head..<end])
        if end == self.state.queue.count {
            self.state.queue.removeAll(keepingCapacity: true)
            self.state.head = 0
        } else {
            self.state.head = end
        }
        return batch
    }
}
