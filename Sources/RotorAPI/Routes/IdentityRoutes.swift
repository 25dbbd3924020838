import NIOCore
import NIOHTTP1
import RotorCore
import RotorHTTP

/// `GET /v1/whoami`: the token's own identity and scopes, so an operator can check what a token
/// is allowed to do without trying it.
enum IdentityRoutes {
    static func register(on v1: ScopedRoutes) {
        let bodies = EncodedPrincipals()
        v1.get("/whoami") { request in
            guard let principal = request.principal else {
                throw HTTPError.unauthorized("This endpoint needs an 'Authorization: Bearer <token>' header.")
            }
            return Response(status: .ok, headers: ["Content-Type": "application/json"], body: try bodies.body(for: principal))
        }
    }
}

/// Each principal's JSON, encoded once: the same few tokens ask `whoami` again and again, and
/// Foundation's encoder cost more than the rest of the route together. A principal is a value
/// (its id, name, scopes and bindings), so a changed token is a different key, never a stale
/// body; the table is emptied when it reaches its bound.
final class EncodedPrincipals: Sendable {
    private let bodies = BoundedTable<Principal, ByteBuffer>(capacity: 1024)

    func body(for principal: Principal) throws -> ByteBuffer {
        if let body = self.bodies[principal] { return body }
        let body = try Response.json(principal).body
        self.bodies.insert(body, for: principal)
        return body
    }
}
