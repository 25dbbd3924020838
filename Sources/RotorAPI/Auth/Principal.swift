public import RotorCore
public import RotorHTTP

/// Who is calling: the identity a bearer token stands for.
public struct Principal: Sendable, Hashable, Codable {
    /// The token's id (`admin` for the bootstrap token from `ROTOR_ADMIN_TOKEN`).
    public var id: String
    /// A human-readable name.
    public var name: String
    /// What the token may do (`admin`, `credentials:read`, ...).
    public var scopes: [String]
    /// The credentials the token may act on; nil for all.
    public var credentialIDs: [String]?

    enum CodingKeys: String, CodingKey {
        case id, name, scopes
        case credentialIDs = "credential_ids"
    }

    /// Creates a principal.
    public init(id: String, name: String, scopes: [String], credentialIDs: [String]? = nil) {
        self.id = id
        self.name = name
        self.scopes = scopes
        self.credentialIDs = credentialIDs
    }

    /// The principal of a stored token.
    public init(token: APIToken) {
        self.init(
            id: token.id.rawValue, name: token.name, scopes: token.scopes.map(\.rawValue),
            credentialIDs: token.credentialIDs?.map(\.rawValue)
        )
    }

    /// The bootstrap administrator.
    public static let admin = Principal(id: "admin", name: "admin", scopes: ["admin"])

    /// Whether the token grants `scope`: `admin` implies every scope except `secrets:read` and
    /// `agent`, which only a token given them explicitly has (pulling a key is a consumer's
    /// right, not an administrator's).
    public func has(_ scope: TokenScope) -> Bool {
        if self.scopes.contains(scope.rawValue) { return true }
        return scope != .secretsRead && scope != .agent && self.scopes.contains(TokenScope.admin.rawValue)
    }

    /// Whether the token may act on `credential` (bound tokens only on theirs).
    public func mayAct(on credential: CredentialID) -> Bool {
        self.credentialIDs.map { $0.contains(credential.rawValue) } ?? true
    }
}

/// Where ``BearerAuthMiddleware`` leaves the authenticated ``Principal`` on a request.
public enum PrincipalKey: RequestAttributeKey {
    public typealias Value = Principal
}

extension Request {
    /// The authenticated caller; `nil` outside authenticated routes.
    public var principal: Principal? {
        get { self.attributes[PrincipalKey.self] }
        set { self.attributes[PrincipalKey.self] = newValue }
    }

    /// The caller, if its token grants `scope`; 403 `forbidden` otherwise.
    func require(_ scope: TokenScope) throws(HTTPError) -> Principal {
        guard let principal = self.principal else {
            throw HTTPError.unauthorized("This endpoint needs an 'Authorization: Bearer <token>' header.")
        }
        guard principal.has(scope) else {
            throw HTTPError.forbidden("This token lacks the '\(scope.rawValue)' scope this request needs.")
        }
        return principal
    }

    /// The caller, if its token grants one of `scopes`; 403 `forbidden` otherwise.
    func requireAny(of scopes: [TokenScope]) throws(HTTPError) -> Principal {
        guard let principal = self.principal else {
            throw HTTPError.unauthorized("This endpoint needs an 'Authorization: Bearer <token>' header.")
        }
        guard scopes.contains(where: { principal.has($0) }) else {
            throw HTTPError.forbidden("This token lacks the scope this request needs (one of \(scopes.map { "'\($0.rawValue)'" }.joined(separator: ", "))).")
        }
        return principal
    }

    /// Refuses (403) a caller that may not decide where `credential`'s keys are sent: that needs
    /// `targets:write`, or `secrets:read` on the credential (nil: one being created). Changing a
    /// target's `url` or `verify_url`, or adding one, redirects the next new key, so
    /// `credentials:write` alone is not enough.
    func requireTargetsWrite(on credential: CredentialID?) throws(HTTPError) {
        guard let principal = self.principal else {
            throw HTTPError.unauthorized("This endpoint needs an 'Authorization: Bearer <token>' header.")
        }
        if principal.has(.targetsWrite) { return }
        if principal.has(.secretsRead), credential.map({ principal.mayAct(on: $0) }) ?? (principal.credentialIDs == nil) { return }
        throw HTTPError.forbidden(
            "Adding a target or changing a target's url or verify_url decides where new keys are sent: it needs the 'targets:write' scope (or 'secrets:read' on this credential).")
    }

    /// The caller, if its token grants `scope` and may act on `credential`. A token bound to
    /// other credentials gets 404, as if the credential did not exist: it learns nothing about
    /// credentials outside its binding.
    func require(_ scope: TokenScope, on credential: CredentialID) throws(HTTPError) -> Principal {
        let principal = try self.require(scope)
        guard principal.mayAct(on: credential) else { throw HTTPError.notFound("No credential with this id exists.") }
        return principal
    }
}
