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
