public import Foundation
import PostgresNIO
public import RotorCore

extension PostgresStore: TokenStore {
    public func createToken(_ token: APIToken, sha256: String) async throws {
        let scopes = try Rows.json(token.scopes.map(\.rawValue))
        let credentialIDs = try Rows.optionalJSON(token.credentialIDs)
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
            try await tx.rows("SELECT * FROM tokens WHERE sha256 = \(sha256)").first.map(Self.token(from:))
        }
    }

    public func token(_ id: TokenID) async throws -> APIToken? {
        try await self.readStatement { tx in
            try await tx.rows("SELECT * FROM tokens WHERE id = \(id.rawValue)").first.map(Self.token(from:))
        }
    }

    public func tokens(_ page: PageRequest) async throws -> Page<APIToken> {
        let after = try TimeKeyset.tokens.after(page.cursor)
        return try await self.read { tx in
            // COLLATE "C": byte order, as SQLite compares (see credentials(_:)).
            try await Self.page(
                tx, .tokens, after: after, limit: page.limit, SQL("SELECT * FROM tokens"), id: "id COLLATE \"C\"", decode: Self.token(from:))
        }
    }

    public func deleteToken(_ id: TokenID) async throws {
        try await self.write { tx in
            guard try await !tx.rows("DELETE FROM tokens WHERE id = \(id.rawValue) RETURNING id").isEmpty else {
                throw StoreError(.notFound, message: "token \(id) does not exist")
            }
        }
    }

    private static func token(from row: PostgresRandomAccessRow) throws -> APIToken {
        let scopes = try Rows.decodeJSON([String].self, row, "scopes").map { text in
            guard let scope = TokenScope(rawValue: text) else { throw Rows.corrupt("scopes", text) }
            return scope
        }
        return APIToken(
            id: TokenID(unchecked: try row.string("id")),
            name: try row.string("name"),
            scopes: scopes,
            credentialIDs: try Rows.decodeOptionalJSON([CredentialID].self, row, "credential_ids"),
            expiresAt: try Rows.optionalDate(row, "expires_at"),
            createdAt: try Rows.date(row, "created_at")
        )
    }
}
