import Foundation
import NIOHTTP1
import RotorCore
import RotorCrypto
import RotorHTTP

/// `/v1/tokens`: scoped bearer tokens (DESIGN.md §4, Tokens and audit), admin only. The token is
/// shown in the create answer only; the store keeps its SHA-256. Deleting a token revokes it for
/// the next request (``StoreTokenAuthenticator`` looks every request up).
enum TokenRoutes {
    /// The most credentials one token may be bound to.
    static let maximumCredentials = 100

    static func register(on v1: ScopedRoutes, services: RotationServices, tokens: any TokenStore) {
        v1.post("/tokens") { request in try await self.create(request, services, tokens) }
        v1.get("/tokens") { request in
            let result = try await readPage(request, tokens.tokens)
            return try Response.json(ListResponse(data: result.items.map { TokenResource(token: $0) }, nextCursor: result.nextCursor))
        }
        v1.get("/tokens/{id}") { request in
            let id = try request.id("id", as: TokenID.self)
            guard let token = try await tokens.token(id) else { throw HTTPError.notFound("No token with this id exists.") }
            return try Response.json(TokenResource(token: token))
        }
        v1.delete("/tokens/{id}") { request in
            let id = try request.id("id", as: TokenID.self)
            do {
                try await Audit.recording("token.delete", id.rawValue, at: services.clock.now()) {
                    try await tokens.deleteToken(id)
                }
            } catch let error as StoreError where error.code == .notFound {
                throw HTTPError.notFound("No token with this id exists.")
            }
            return .noContent
        }
    }

    private static func create(_ request: Request, _ services: RotationServices, _ tokens: any TokenStore) async throws -> Response {
        let body = try request.decode(TokenCreateBody.self)
        let now = services.clock.now()
        var errors: [HTTPError.FieldError] = []
        if let name = body.name {
            if name.isEmpty || name.count > 64 { errors.append(.init(field: "name", message: "must be 1–64 characters")) }
        } else {
            errors.append(.init(field: "name", message: "is required"))
        }
        var scopes: [TokenScope] = []
        if let names = body.scopes {
            if names.isEmpty { errors.append(.init(field: "scopes", message: "must name at least one scope")) }
            let known = TokenScope.allCases.map(\.rawValue).joined(separator: ", ")
            for (index, name) in names.enumerated() {
                if let scope = TokenScope(rawValue: name) {
                    if !scopes.contains(scope) { scopes.append(scope) }
                } else {
                    errors.append(.init(field: "scopes[\(index)]", message: "must be one of \(known)"))
                }
            }
        } else {
            errors.append(.init(field: "scopes", message: "is required"))
        }
        var credentialIDs: [CredentialID]?
        if let texts = body.credentialIDs {
            if texts.isEmpty || texts.count > Self.maximumCredentials {
                errors.append(.init(field: "credential_ids", message: "must list 1–\(Self.maximumCredentials) credential ids (omit it for all credentials)"))
            }
            var ids: [CredentialID] = []
            for (index, text) in texts.enumerated() {
                if let id = CredentialID(text) {
                    if !ids.contains(id) { ids.append(id) }
                } else {
                    errors.append(.init(field: "credential_ids[\(index)]", message: "must be a credential id (cred_…)"))
                }
            }
            credentialIDs = ids
        }
        if scopes.contains(.secretsRead) && body.credentialIDs == nil {
            errors.append(.init(field: "credential_ids", message: "is required with the secrets:read scope: a key-reading token names the credentials it reads"))
        }
        if scopes.contains(.agent) && body.credentialIDs == nil {
            errors.append(.init(field: "credential_ids", message: "is required with the agent scope: an agent's token names the credentials it serves"))
        }
        if scopes.contains(.admin) && body.credentialIDs != nil {
            errors.append(.init(field: "credential_ids", message: "cannot bind an admin token: admin manages every credential"))
        }
        var expiresAt: Date?
        if let text = body.expiresAt {
            if let date = try? Date(text, strategy: .iso8601) {
                if date <= now { errors.append(.init(field: "expires_at", message: "must be in the future")) }
                expiresAt = date
            } else {
                errors.append(.init(field: "expires_at", message: "must be an RFC 3339 timestamp such as 2027-01-01T00:00:00Z"))
            }
        }
        guard errors.isEmpty, let name = body.name else {
            throw HTTPError.invalidBody(errors)
        }

        let value = SecureRandom.token(prefix: StoreTokenAuthenticator.tokenPrefix)
        let token = APIToken(id: .generate(), name: name, scopes: scopes, credentialIDs: credentialIDs, expiresAt: expiresAt, createdAt: now)
        try await Audit.recording("token.create", token.id.rawValue, at: now) {
            try await tokens.createToken(token, sha256: SHA256.hexDigest(value))
        }
        return try Response.json(
            TokenResource(token: token, value: value),
            status: .created,
            headers: ["Location": "/v1/tokens/\(token.id.rawValue)"]
        )
    }
}
