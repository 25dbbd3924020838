public import Foundation
import PostgresNIO
public import RotorCore
import RotorStorage

extension PostgresStore: TokenStore {
    public func createToken(_ token: APIToken, sha256: String) async throws {
        let scopes = try RowCoding.json(token.scopes.map(\.rawValue))
        let credentialIDs = try RowCoding.optionalJSON(token.credentialIDs)
        try await self.write { tx in
            try await tx.run(
                """
                INSERT INTO tokens (id, name, sha256, scopes, credential_ids, expires_at, created_at)
                VALUES (\(token.id.rawValue), \(token.name), \(sha256), \(scopes), \(credentialIDs),
                    \(token.expiresAt?.timeIntervalSinceReferenceDate), \(token.createdAt.timeIntervalSinceReferenceDate))
                """
            )
        }
    }

    public func token(sha256: String) async throws -> APIToken? {
        // Every request with a scoped token: one round trip.
        try await self.readStatement { tx in
            try await tx.rows("SELECT * FROM tokens WHERE sha256 = \(sha256)").first.map(RowCoding.token(from:))
        }
    }

    public func token(_ id: TokenID) async throws -> APIToken? {
        try await self.readStatement { tx in
            try await tx.rows("SELECT * FROM tokens WHERE id = \(id.rawValue)").first.map(RowCoding.token(from:))
        }
    }

    public func tokens(_ page: PageRequest) async throws -> Page<APIToken> {
        let after = try TimeKeyset.tokens.after(page.cursor)
        return try await self.read { tx in
            // COLLATE "C": byte order, as SQLite compares (see credentials(_:)).
            try await Self.page(
                tx, .tokens, after: after, limit: page.limit, SQL("SELECT * FROM tokens"), id: "id COLLATE \"C\"", decode: RowCoding.token(from:))
        }
    }

    public func deleteToken(_ id: TokenID) async throws {
        try await self.write { tx in
            guard try await !tx.rows("DELETE FROM tokens WHERE id = \(id.rawValue) RETURNING id").isEmpty else {
                throw StoreError(.notFound, message: "token \(id) does not exist")
            }
        }
    }
}
