import NIOHTTP1
public import RotorCore
import RotorHTTP

/// What a `/v1` route asks of the calling token.
public enum RouteAccess: Sendable, Hashable {
    /// Any valid token (`GET /v1/whoami`).
    case anyToken
    /// A token with this scope (``Principal/has(_:)``: `admin` implies all but `secrets:read`).
    case scope(TokenScope)
    /// A token with any one of these scopes.
    case anyOf([TokenScope])
}

/// The scope of every bearer-authenticated route, in one table: registering a `/v1` route that is
/// not in it stops the process at start-up, so no route is ever served unchecked.
public enum RouteScopes {
    /// `"METHOD /v1/template"` → access.
    public static let table: [String: RouteAccess] = [
        "GET /v1/whoami": .anyToken,
        "GET /v1/providers": .scope(.credentialsRead),

        "POST /v1/credentials": .scope(.credentialsWrite),
        "GET /v1/credentials": .scope(.credentialsRead),
        "GET /v1/credentials/{id}": .scope(.credentialsRead),
        "PATCH /v1/credentials/{id}": .scope(.credentialsWrite),
        "DELETE /v1/credentials/{id}": .scope(.credentialsWrite),
        "POST /v1/credentials/{id}/targets/{target_id}/roll-secret": .scope(.credentialsWrite),
        "GET /v1/credentials/{id}/secret": .scope(.secretsRead),
        "GET /v1/credentials/{id}/agent/key": .anyOf([.agent, .secretsRead]),
        "POST /v1/credentials/{id}/agent/acks": .scope(.agent),
        "GET /v1/credentials/{id}/agent/instances": .scope(.credentialsRead),

        "POST /v1/jobs": .scope(.jobsWrite),
        "GET /v1/jobs": .scope(.jobsRead),
        "GET /v1/jobs/{id}": .scope(.jobsRead),
        "GET /v1/jobs/{id}/events": .scope(.jobsRead),
        "GET /v1/jobs/{id}/deliveries": .scope(.jobsRead),
        "POST /v1/jobs/{id}/cancel": .scope(.jobsWrite),

        "POST /v1/subscriptions": .scope(.admin),
        "GET /v1/subscriptions": .scope(.admin),
        "GET /v1/subscriptions/{id}": .scope(.admin),
        "DELETE /v1/subscriptions/{id}": .scope(.admin),
        "GET /v1/subscriptions/{id}/deliveries": .scope(.admin),

        "POST /v1/triggers": .scope(.admin),
        "GET /v1/triggers": .scope(.admin),
        "GET /v1/triggers/{id}": .scope(.admin),
        "DELETE /v1/triggers/{id}": .scope(.admin),
        "POST /v1/triggers/{id}/roll-secret": .scope(.admin),

        "POST /v1/tokens": .scope(.admin),
        "GET /v1/tokens": .scope(.admin),
        "GET /v1/tokens/{id}": .scope(.admin),
        "DELETE /v1/tokens/{id}": .scope(.admin),

        "GET /v1/audit": .scope(.admin),
    ]
}

/// The `/v1` group with a scope check in front of each route, taken from ``RouteScopes/table``.
/// The check runs before the handler reads the body, so a token without the scope gets 403
/// whatever it sent.
struct ScopedRoutes: RouteRegistering {
    let group: RouterGroup
    /// The group's path prefix, to find routes in the table.
    let prefix: String

    func on(_ method: HTTPMethod, _ path: String, use responder: @escaping Responder) {
        let key = "\(method.rawValue) \(self.prefix)\(path)"
        guard let access = RouteScopes.table[key] else {
            preconditionFailure("\(key) is not in RouteScopes.table: every /v1 route needs a scope")
        }
        self.group.on(method, path) { request in
            switch access {
            case .anyToken: break
            case .scope(let scope): _ = try request.require(scope)
            case .anyOf(let scopes): _ = try request.requireAny(of: scopes)
            }
            return try await responder(request)
        }
    }
}
