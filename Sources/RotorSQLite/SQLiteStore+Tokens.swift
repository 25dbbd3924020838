import Foundation
import GRDB
public import RotorCore
import RotorStorage

extension SQLiteStore: TokenStore {
    /// `v3-tokens-audit`: scoped API tokens (by SHA-256 only) and the hash-chained audit log.
    static func registerTokenAndAuditMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3-tokens-audit") { db in
            try db.execute(
                sql: """
                    -- The token itself is never stored: only the hex SHA-256 it is looked up by.
                    CREATE TABLE tokens (
                        id TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL,
                        sha256 TEXT NOT NULL UNIQUE,
                        scopes TEXT NOT NULL,
                        credential_ids TEXT,
                        expires_at REAL,
                        created_at REAL NOT NULL
                    );
                    CREATE INDEX tokens_by_created_at ON tokens(created_at, id);

                    -- Append-only; each hash covers the entry and the previous hash. `at` is the
                    -- RFC 3339 text that was hashed, so verification needs no time arithmetic.
                    CREATE TABLE audit_log (
                        seq INTEGER PRIMARY KEY NOT NULL,
                        at TEXT NOT NULL,
                        actor TEXT NOT NULL,
                        action TEXT NOT NULL,
                        resource TEXT NOT NULL,
                        outcome TEXT NOT NULL,
                        hash TEXT NOT NULL
                    );
                    """
            )
        }
    }

    public func createToken(_ token: APIToken, sha256: String) async throws {
        try await self.writer.write { db in
            try db.run(
                sql: """
                    INSERT INTO tokens (id, name, sha256, scopes, credential_ids, expires_at, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    token.id.rawValue, token.name, sha256, try RowCoding.json(token.scopes.map(\.rawValue)),
                    try RowCoding.optionalJSON(token.credentialIDs), RowCoding.time(token.expiresAt), RowCoding.time(token.createdAt),
                ]
            )
        }
    }

    /// The token with this digest: from ``TokenCache`` after its first read, which saves every
    /// authenticated request a store read.
    public func token(sha256: String) async throws -> APIToken? {
        let (cached, generation) = self.tokenCache.lookUp(sha256)
        if let cached { return cached }
        let token = try await self.reads.read { db in
            try db.fetchOne("SELECT * FROM tokens WHERE sha256 = ?", arguments: [sha256], as: RowCoding.token(from:))
        }
        if let token { self.tokenCache.insert(token, sha256: sha256, ifGeneration: generation) }
        return token
    }

    public func token(_ id: TokenID) async throws -> APIToken? {
        try await self.reads.read { db in
            try db.fetchOne("SELECT * FROM tokens WHERE id = ?", arguments: [id.rawValue], as: RowCoding.token(from:))
        }
    }

    public func tokens(_ page: PageRequest) async throws -> Page<APIToken> {
        let after = try TimeKeyset.tokens.after(page.cursor)
        return try await self.scans.read { db in
            try Self.page(db, .tokens, after: after, limit: page.limit, select: "SELECT * FROM tokens", decode: RowCoding.token(from:))
        }
    }

    public func deleteToken(_ id: TokenID) async throws {
        try await self.writer.write { db in
            try db.run(sql: "DELETE FROM tokens WHERE id = ?", arguments: [id.rawValue])
            guard db.changesCount > 0 else { throw StoreError(.notFound, message: "token \(id) does not exist") }
        }
        // Committed: the token's next request fails.
        self.tokenCache.remove(id)
    }
}
