import GRDB
import RotorCore
import Synchronization

/// Group commit: writes that arrive while a transaction is being committed wait, then all commit
/// together in the next transaction, so they share one fsync.
///
/// SQLite in WAL mode with `synchronous = FULL` syncs the log on every commit, and a sync costs
/// milliseconds (3.4 ms on the machine the benchmark ran on). A rotation commits about twenty
/// times, so one transaction per write would cap the engine near fifteen rotations a second
/// whatever its concurrency. Batching keeps every write durable before its caller resumes (the
/// rule that an intent is on disk before its effect happens) while concurrent jobs share the cost.
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
        var draining = false
    }

    private let pool: DatabasePool
    private let state = Mutex(State())

    init(pool: DatabasePool) {
        self.pool = pool
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
            let startDraining = self.state.withLock { state in
                state.pending.append(pending)
                guard !state.draining else { return false }
                state.draining = true
                return true
            }
            if startDraining {
                Task { await self.drain() }
            }
        }
    }

    /// Commits batches until no write is waiting.
    private func drain() async {
        while true {
            let batch = self.state.withLock { state in
                let batch = state.pending
                state.pending.removeAll(keepingCapacity: true)
                if batch.isEmpty { state.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            do {
                try await self.pool.write { db in
                    for pending in batch { pending.run(db) }
                }
                for pending in batch { pending.finish(nil) }
            } catch {
                for pending in batch { pending.finish(error) }
            }
        }
    }
}

/// One batched write's result.
///
/// `@unchecked Sendable`: `result` is written once, on GRDB's writer queue inside the batch's
/// transaction, and read only after that transaction's `write` has returned to ``GroupCommitWriter``,
/// which orders the two accesses.
private final class Outcome<T: Sendable>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
