import Logging

/// Turns whatever a handler throws into a response: an ``HTTPResponseError`` answers as itself;
/// anything else is logged and answers a bare `500 internal`, so internals never reach a client.
public struct ErrorMiddleware: Middleware {
    /// Creates the middleware.
    public init() {}

    public func respond(to request: Request, next: Responder) async throws -> Response {
        do {
            return try await next(request)
        } catch let error as any HTTPResponseError {
            return error.response()
        } catch let abort as AbortConnection {
            throw abort
        } catch is CancellationError {
            return HTTPError.unavailable("The server is shutting down.").response()
        } catch {
            // The type name and description of our own errors carry no secrets; see STYLE.md.
            request.logger.error("unhandled error", metadata: ["error.type": "\(type(of: error))", "error": "\(error)"])
            return HTTPError.internal(requestID: request.id.isEmpty ? nil : request.id).response()
        }
    }
}
