import RotorCore
import Synchronization

/// The tokens `SQLiteStore.token(sha256:)` has read, by digest, so that a request's bearer token
/// costs no store read after its first.
///
/// Exact, not a time-to-live cache: a token never changes after it is created, only is deleted,
/// and the store removes it here as soon as its delete commits, so a revoked token fails its
/// next request. That holds because one process writes an SQLite database's tokens: `rotor serve`
/// locks the data directory (`DataDirectory.lock`), and no other command touches tokens. A read
/// that raced a delete does not put the deleted token back (``insert(_:sha256:ifGeneration:)``).
/// Unknown digests are not cached, so a flood of wrong tokens cannot fill it; failed attempts are
/// rate limited per address anyway.
final class TokenCache: Sendable {
    private struct State {
        var tokens: [String: APIToken] = [:]
        /// Moves on every delete: an insert from a read that began before it is dropped.
        var generation: UInt64 = 0
    }

    /// At most this many tokens are kept; when full, the cache starts over.
    static let capacity = 4_096

    private let state = Mutex(State())

    /// The cached token, or nil and the generation a read that follows must pass to ``insert``.
    func lookUp(_ sha256: String) -> (token: APIToken?, generation: UInt64) {
        self.state.withLock { ($0.tokens[sha256], $0.generation) }
    }

    /// Keeps `token`, unless a delete committed since the read began at `generation`.
    func insert(_ token: APIToken, sha256: String, ifGeneration generation: UInt64) {
        self.state.withLock { state in
            guard state.generation == generation else { return }
            if state.tokens.count >= Self.capacity { state.tokens.removeAll(keepingCapacity: true) }
            state.tokens[sha256] = token
        }
    }

    /// Forgets token `id`; called once its delete has committed.
    func remove(_ id: TokenID) {
        self.state.withLock { state in
            state.generation &+= 1
            state.tokens = state.tokens.filter { $0.value.id != id }
        }
    }
}
