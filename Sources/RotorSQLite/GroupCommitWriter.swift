import Foundation
import GRDB
import RotorCore

/// Group commit: writes that arrive while a transaction is being committed wait, then all commit
/// together in the next transaction, so they share one fsync.
///
/// SQLite in WAL mode with `synchronous = FULL` syncs the log on every commit, and a sync costs
/// milliseconds (3.4 ms on the machine the benchmark ran on). A rotation commits about twenty
/// times, so one transaction per write would cap the engine near fifteen rotations a second
/// whatever its concurrency. Batching keeps every write durable before its caller resumes (the
/// rule that an intent is on disk before its effect happens) while concurrent writes share the cost.
///
/// The batches commit on a thread of their own, like ``ReadExecutor``'s reads. GRDB's async
/// `write` would run them on its writer queue, and on Linux a dispatch queue's work runs on the
/// same threads as Swift's tasks: every commit's fsync held one of them (of two here) for
/// milliseconds, and a test run with dozens of stores committing at once stalled every task for
/// seconds. Here the thread takes the writes waiting, calls GRDB's synchronous `write` (which
/// runs on the calling thread), and resumes their callers; a caller waits as a suspended
/// continuation, not a blocked thread.
///
/// Each write runs inside its own savepoint: one that throws is rolled back alone and its caller
/// gets the error, while the others in the batch still commit. If the batch's commit itself fails,
/// every write in it fails.
final class GroupCommitWriter: Sendable {
    private struct Pending: Sendable {
        /// Runs the write in a savepoint and keeps its outcome.
        let run: @Sendable (Database) -> Void
        /// Resumes the caller, with the batch's commit error if there was one.
        let finish: @Sendable ((any Error)?) -> Void
    }

    private struct State {
        var pending: [Pending] = []
        var threadIsIdle = false
        var closed = false
    }

    private let pool: DatabasePool
    /// Guards `state`; the condition wakes the thread when it is idle.
    private let condition = NSCondition()
    // `nonisolated(unsafe)`: every access holds `condition`'s lock.
    private nonisolated(unsafe) var state = State()

    /// Starts the writer thread, named `label`, over `pool`.
    init(pool: DatabasePool, label: String) {
        self.pool = pool
        Thread.start(named: label) { [self] in self.serve() }
    }

    /// Runs `body` in the next batch and returns its result once the batch is durable.
    func write<T: Sendable>(
        _ body: @escaping @Sendable (Database) throws -> T, committed: (@Sendable (T) -> Void)? = nil
    ) async throws -> T {
        let outcome = Outcome<T>()
        // The calling task's audit record goes into the same savepoint as the change it reports
        // (AuditStore): both commit, or neither. Task-locals do not reach the batch's task, so
        // the record is taken here, in the caller's.
        let audit = Audit.currentRecord
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let pending = Pending(
                run: { db in
                    do {
                        var value: T?
                        try db.inSavepoint {
                            // The request first, then what the body appends as its consequences.
                            if let audit { try SQLiteStore.appendAudit(db, audit) }
                            value = try body(db)
                            return .commit
                        }
                        outcome.result = value.map { .success($0) }
                    } catch {
                        outcome.result = .failure(error)
                    }
                },
                finish: { batchError in
                    if let batchError {
                        continuation.resume(throwing: batchError)
                    } else if let result = outcome.result {
                        if case .success(let value) = result { committed?(value) }
                        continuation.resume(with: result)
                    } else {
                        continuation.resume(throwing: DatabaseError(resultCode: .SQLITE_MISUSE, message: "a batched write produced no result"))
                    }
                }
            )
            self.condition.lock()
            if self.state.closed {
                self.condition.unlock()
                continuation.resume(throwing: DatabaseError(resultCode: .SQLITE_MISUSE, message: "the store is closed"))
                return
            }
            self.state.pending.append(pending)
            let wake = self.state.threadIsIdle
            self.condition.unlock()
            if wake { self.condition.signal() }
        }
    }

    /// Lets the thread end once every waiting write has committed; later writes fail.
    func close() {
        self.condition.lock()
        self.state.closed = true
        self.condition.unlock()
        self.condition.broadcast()
    }

    /// Commits batches until closed and drained.
    private func serve() {
        while let batch = self.nextBatch() {
            do {
                try self.pool.write { db in
                    for pending in batch { pending.run(db) }
                }
                for pending in batch { pending.finish(nil) }
            } catch {
                for pending in batch { pending.finish(error) }
            }
        }
    }

    /// Every write waiting, waiting for one; nil once closed and drained.
    private func nextBatch() -> [Pending]? {
        self.condition.lock()
        defer { self.condition.unlock() }
        while self.state.pending.isEmpty {
            if self.state.closed { return nil }
            self.state.threadIsIdle = true
            self.condition.wait()
            self.state.threadIsIdle = false
        }
        let batch = self.state.pending
        self.state.pending.removeAll(keepingCapacity: true)
        return batch
    }
}

/// One batched write's result.
///
/// `@unchecked Sendable`: `result` is written once, on the writer thread inside the batch's
/// transaction, and read only after that transaction's `write` has returned to ``GroupCommitWriter``,
/// which orders the two accesses.
private final class Outcome<T: Sendable>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
