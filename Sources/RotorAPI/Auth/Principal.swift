public import RotorHTTP

/// Who is calling: the identity a bearer token stands for.
public struct Principal: Sendable, Hashable, Codable {
    /// The token's id (`admin` for the bootstrap token from `ROTOR_ADMIN_TOKEN`).
    public var id: String
    /// A human-readable name.
    public var name: String
    /// What the token may do (`admin`, `credentials:read`, ...).
    public var scopes: [String]

    /// Creates a principal.
    public init(id: String, name: String, scopes: [String]) {
        self.id = id
        self.name = name
        self.scopes = scopes
    }

    /// The bootstrap administrator.
    public static let admin = Principal(id: "admin", name: "admin", scopes: ["admin"])
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
}
