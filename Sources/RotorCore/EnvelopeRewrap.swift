/// Where `rotor keyring rewrap` stands, after each batch and at the end.
public struct EnvelopeRewrapProgress: Sendable, Hashable {
    /// Envelopes moved to the active KEK so far by this run.
    public var rewrapped: Int
    /// Envelopes this run set out to move: those not under the active KEK when it started, plus
    /// any a concurrent writer sealed under an old KEK meanwhile.
    public var total: Int
    /// Envelopes still under each other KEK (an estimate between batches, counted at the end).
    public var remaining: [String: Int]
    /// Envelopes skipped because they changed between read and write (see
    /// ``EnvelopeKeyStore/rewrapEnvelopes(under:after:limit:)``).
    public var changedConcurrently: Int
    /// Envelopes that could not be re-wrapped; they keep their old KEK.
    public var failures: [EnvelopeFailure]

    /// Whether every envelope is under the active KEK.
    public var isComplete: Bool { remaining.values.allSatisfy { $0 == 0 } }
}

/// The loop behind `rotor keyring rewrap`: moves every stored envelope to the active KEK in
/// small batches, so that it can run beside a serving instance, be interrupted at any point, and
/// be run again to finish (each run only looks at envelopes not yet under the active KEK).
public enum EnvelopeRewrap {
    /// Re-wraps every envelope not under the store's active KEK.
    ///
    /// Passes over the old KEKs' envelopes until none is left, until only envelopes that fail to
    /// re-wrap are left, until `maxEnvelopes` were looked at, or until a pass moves nothing (a writer still sealing under an old KEK,
    /// e.g. a server that was not restarted after `rotor keyring add`) or `maxPasses` is reached.
    ///
    /// - Parameters:
    ///   - batchSize: envelopes per transaction; small batches keep the writer lock short.
    ///   - maxEnvelopes: stop once this many envelopes were looked at, to spread a large rewrap
    ///     over several runs; `nil` for no limit.
    ///   - progress: called after every batch; throwing (or cancelling the task) stops the run
    ///     between batches, with everything done so far committed.
    /// - Returns: the final counts, taken from the store after the last pass.
    public static func run(
        store: some EnvelopeKeyStore,
        batchSize: Int = 100,
        maxEnvelopes: Int? = nil,
        maxPasses: Int = 5,
        progress: (EnvelopeRewrapProgress) async throws -> Void = { _ in }
    ) async throws -> EnvelopeRewrapProgress {
        precondition(batchSize > 0 && maxPasses > 0 && (maxEnvelopes ?? 1) > 0)
        let active = store.activeEnvelopeKeyID
        var state = EnvelopeRewrapProgress(
            rewrapped: 0, total: 0, remaining: try await Self.remaining(store, active: active), changedConcurrently: 0, failures: [])
        state.total = state.remaining.values.reduce(0, +)
        var failed: Set<EnvelopeCursor> = []
        var budget = maxEnvelopes ?? Int.max

        passes: for _ in 0..<maxPasses {
            let leftOver = state.remaining.values.reduce(0, +)
            guard leftOver > failed.count else { break }
            var movedThisPass = 0
            for keyID in state.remaining.keys.sorted() where state.remaining[keyID, default: 0] > 0 {
                var cursor: EnvelopeCursor?
                repeat {
                    try Task.checkCancellation()
                    guard budget > 0 else { break passes }
                    let batch = try await store.rewrapEnvelopes(under: keyID, after: cursor, limit: min(batchSize, budget))
                    budget -= batch.rewrapped + batch.changedConcurrently + batch.failures.count
                    movedThisPass += batch.rewrapped
                    state.rewrapped += batch.rewrapped
                    state.changedConcurrently += batch.changedConcurrently
                    state.remaining[keyID] = max(0, state.remaining[keyID, default: 0] - batch.rewrapped)
                    for failure in batch.failures where failed.insert(EnvelopeCursor(owner: failure.owner, field: failure.field)).inserted {
                        state.failures.append(failure)
                    }
                    try await progress(state)
                    cursor = batch.next
                } while cursor != nil
            }
            state.remaining = try await Self.remaining(store, active: active)
            state.total = max(state.total, state.rewrapped + state.remaining.values.reduce(0, +))
            if movedThisPass == 0 { break }
        }
        // Counted again in case the budget ended the run mid-pass.
        state.remaining = try await Self.remaining(store, active: active)
        state.total = max(state.total, state.rewrapped + state.remaining.values.reduce(0, +))
        return state
    }

    /// Envelopes per KEK other than the active one.
    private static func remaining(_ store: some EnvelopeKeyStore, active: String) async throws -> [String: Int] {
        try await store.envelopeCountsByKeyID().filter { $0.key != active }
    }
}
