/// Produces the response to a request.
public typealias Responder = @Sendable (Request) async throws -> Response

/// A step around a responder: it may change the request, answer by itself, or post-process the
/// response. Chains are composed once, when a route is registered, not per request.
public protocol Middleware: Sendable {
    /// Handles `request`, calling `next` to continue down the chain.
    func respond(to request: Request, next: Responder) async throws -> Response
}

extension Array where Element == any Middleware {
    /// The chain with the first element outermost.
    func wrapping(_ responder: @escaping Responder) -> Responder {
        self.reversed().reduce(responder) { next, middleware in
            { request in try await middleware.respond(to: request, next: next) }
        }
    }
}
