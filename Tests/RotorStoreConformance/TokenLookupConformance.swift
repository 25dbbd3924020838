import Foundation
import RotorCore
@testable import RotorSQLite
import Testing

/// A token read once is served without a store read (SQLite keeps what it has read), and a
/// deleted token fails its next lookup all the same, on every store.
package struct TokenLookupConformance: Sendable {
    package init() {}

    package func deletedAfterLookup(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let token = APIToken(id: .generate(), name: "reader", scopes: [.jobsRead], credentialIDs: nil, expiresAt: nil, createdAt: Sample.t0)
            let digest = String(repeating: "a", count: 64)
            try await store.createToken(token, sha256: digest)
            for _ in 0..<3 { #expect(try await store.token(sha256: digest) == token) }
            try await store.deleteToken(token.id)
            #expect(try await store.token(sha256: digest) == nil)
        }
    }


}
