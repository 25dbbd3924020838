import Foundation
import RotorCore
@testable import RotorSQLite
import RotorStoreConformance
import Testing

/// ``TokenLookupConformance`` on SQLite.
@Suite struct TokenLookupTests {
    let suite = TokenLookupConformance()

    @Test("a token looked up, then deleted, is not found on the next lookup")
    func deletedAfterLookup() async throws { try await self.suite.deletedAfterLookup(.sqlite) }

    @Test("SQLite answers a token it has read without reading the database again, until it is deleted")
    func cachedUntilDeleted() async throws {
        let fixture = try await SQLiteFixture.opened()
        let store = fixture.store
        let token = APIToken(id: .generate(), name: "reader", scopes: [.jobsRead], credentialIDs: nil, expiresAt: nil, createdAt: Sample.t0)
        let digest = String(repeating: "b", count: 64)
        try await store.createToken(token, sha256: digest)
        #expect(store.tokenCache.lookUp(digest).token == nil, "nothing is cached before the first lookup")
        #expect(try await store.token(sha256: digest) == token)
        #expect(store.tokenCache.lookUp(digest).token == token)
        // Another token's deletion does not evict this one; its own does.
        let other = APIToken(id: .generate(), name: "other", scopes: [.jobsRead], credentialIDs: nil, expiresAt: nil, createdAt: Sample.t0)
        try await store.createToken(other, sha256: String(repeating: "c", count: 64))
        try await store.deleteToken(other.id)
        #expect(store.tokenCache.lookUp(digest).token == token)
        try await store.deleteToken(token.id)
        #expect(store.tokenCache.lookUp(digest).token == nil)
        #expect(try await store.token(sha256: digest) == nil)
    }

    @Test("a read that began before a delete does not put the deleted token back")
    func raceWithDelete() {
        let cache = TokenCache()
        let token = APIToken(id: .generate(), name: "reader", scopes: [.jobsRead], credentialIDs: nil, expiresAt: nil, createdAt: Sample.t0)
        let digest = String(repeating: "d", count: 64)
        let (_, generation) = cache.lookUp(digest)
        cache.remove(token.id)  // the delete commits while the read is in flight
        cache.insert(token, sha256: digest, ifGeneration: generation)
        #expect(cache.lookUp(digest).token == nil)
    }
}
