public import Foundation

/// Persistence for scoped API tokens (DESIGN.md §4, Tokens and audit). Kept apart from ``Store``
/// so that stores add it on its own; every method is one transaction.
///
/// Tokens are looked up by the lower-case hex SHA-256 of the presented token, on every request
/// (no cache), so a deleted token fails on the very next request, on every instance.
public protocol TokenStore: Sendable {
    /// Stores a token's metadata and the SHA-256 (hex) of its value.
    func createToken(_ token: APIToken, sha256: String) async throws
    /// The token whose value hashes to `sha256`, or nil (expiry is the caller's to check).
    func token(sha256: String) async throws -> APIToken?
    /// The token, or nil.
    func token(_ id: TokenID) async throws -> APIToken?
    /// Tokens, newest first, in pages.
    func tokens(_ page: PageRequest) async throws -> Page<APIToken>
    /// Deletes (revokes) the token. Throws ``StoreError/Code/notFound``.
    func deleteToken(_ id: TokenID) async throws
}
