import RotorHTTP

/// `GET /v1/whoami`: the token's own identity and scopes, so an operator can check what a token
/// is allowed to do without trying it.
enum IdentityRoutes {
    static func register(on v1: ScopedRoutes) {
        v1.get("/whoami") { request in
            guard let principal = request.principal else {
                throw HTTPError.unauthorized("This endpoint needs an 'Authorization: Bearer <token>' header.")
            }
            return try Response.json(principal)
        }
    }
}
