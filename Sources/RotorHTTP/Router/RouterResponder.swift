import NIOHTTP1

/// The frozen router: resolves a request to its route and runs the middleware chain.
public struct RouterResponder: Sendable {
    private let root: RouteNode
    private let responder: Responder

    init(root: RouteNode, middleware: [any Middleware], unmatched: [any Middleware] = []) {
        self.root = root
        // Requests that resolve to no route still pass through the instrumentation, under one
        // fixed label, so 404s and 405s are counted too.
        let unmatchedResponder: Responder = unmatched.wrapping { [root] request in
            try Self.refusal(request, root: root)
        }
        self.responder = middleware.wrapping { [root] request in
            try await Self.dispatch(request, root: root, unmatched: unmatchedResponder)
        }
    }

    /// Answers `request`, waiting for a deferred answer's completion (in-process callers).
    /// Errors that are ``HTTPResponseError``s propagate to the caller (``ErrorMiddleware``, when
    /// installed, makes them problem responses).
    public func respond(to request: Request) async throws -> Response {
        var response = try await self.responder(request)
        while let completion = response.completion { response = try await completion.run().get() }
        return response
    }

    /// Answers `request`; a deferred answer comes back as its placeholder, for the server to
    /// complete (``Response/deferred(_:)``).
    func respondDeferring(to request: Request) async throws -> Response {
        try await self.responder(request)
    }

    /// The route template `request` resolves to (`/v1/jobs/{id}`), for logs and metrics.
    public func template(for request: Request) -> String? {
        guard let match = self.root.resolve(request.pathSegments) else { return nil }
        let method = request.method == .HEAD && match.node.endpoints["HEAD"] == nil ? "GET" : request.method.rawValue
        return match.node.endpoints[method]?.template
    }

    private static func dispatch(_ request: Request, root: RouteNode, unmatched: Responder) async throws -> Response {
        guard let match = root.resolve(request.pathSegments) else {
            return try await unmatched(request)
        }
        let endpoint: RouteNode.Endpoint
        if let exact = match.node.endpoints[request.method.rawValue] {
            endpoint = exact
        } else if request.method == .HEAD, let get = match.node.endpoints["GET"] {
            endpoint = get
        } else {
            return try await unmatched(request)
        }
        var request = request
        for capture in match.captures {
            request.parameters[capture.name] = capture.value
        }
        return try await endpoint.responder(request)
    }

    /// The 404 or 405 for a request no route answers.
    private static func refusal(_ request: Request, root: RouteNode) throws(HTTPError) -> Response {
        guard let match = root.resolve(request.pathSegments) else {
            throw HTTPError.notFound()
        }
        throw HTTPError.methodNotAllowed(request.method, allowed: match.node.allowedMethods)
    }
}
