public import RotorCore
import RotorCrypto

/// Maps a presented bearer token to the principal it stands for.
public protocol TokenAuthenticator: Sendable {
    /// The principal for `token`, or `nil` when the token is unknown, expired or revoked.
    func authenticate(token: String) async throws -> Principal?
}

/// Accepts exactly one token: the bootstrap admin token (`ROTOR_ADMIN_TOKEN`).
///
/// Only the token's SHA-256 is kept, and candidates are hashed before a constant-time compare,
/// so neither content nor length leaks through timing.
public struct AdminTokenAuthenticator: TokenAuthenticator {
    private let digest: [UInt8]

    /// Creates the authenticator for `adminToken`.
    public init(adminToken: String) {
        self.digest = SHA256.hash(adminToken)
    }

    public func authenticate(token: String) async throws -> Principal? {
        constantTimeEquals(SHA256.hash(token), self.digest) ? .admin : nil
    }
}

/// Accepts the tokens of a ``TokenStore`` that have not expired.
///
/// Asks the store for the token's SHA-256 on every request, so deleting a token takes effect on
/// the next request, here and on every other instance sharing the store. (The SQLite store answers
/// from memory after a token's first read: one process owns its database and drops a token as its
/// delete commits. PostgreSQL reads it each time.) Values without the `rtr_` prefix every issued
/// token has are refused without asking the store.
public struct StoreTokenAuthenticator: TokenAuthenticator {
    private let store: any TokenStore
    private let clock: any RotorClock

    /// Creates the authenticator.
    public init(store: any TokenStore, clock: any RotorClock = SystemClock()) {
        self.store = store
        self.clock = clock
    }

    /// The prefix of every issued token.
    public static let tokenPrefix = "rtr_"

    public func authenticate(token: String) async throws -> Principal? {
        guard token.hasPrefix(Self.tokenPrefix) else { return nil }
        guard let stored = try await self.store.token(sha256: SHA256.hexDigest(token)), stored.isValid(at: self.clock.now()) else {
            return nil
        }
        return Principal(token: stored)
    }
}

/// Asks each authenticator in turn; the first principal wins. `rotor serve` puts the admin token
/// first, so the bootstrap token never costs a store lookup.
public struct CompositeTokenAuthenticator: TokenAuthenticator {
    private let authenticators: [any TokenAuthenticator]

    /// Creates the chain.
    public init(_ authenticators: [any TokenAuthenticator]) {
        self.authenticators = authenticators
    }

    public func authenticate(token: String) async throws -> Principal? {
        for authenticator in self.authenticators {
            if let principal = try await authenticator.authenticate(token: token) { return principal }
        }
        return nil
    }
}
