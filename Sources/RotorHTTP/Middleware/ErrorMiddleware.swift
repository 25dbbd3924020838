import Logging

/// Turns whatever a handler throws into a response: an ``HTTPResponseError`` answers as itself;
/// anything else is logged and answers a bare `500 internal`, so internals never reach a client.
public struct ErrorMiddleware: Middleware {
    /// Creates the middleware.
    public init() {}

    public func respond(to request: Request, next: Responder) async throws -> Response {
        let response: Response
        do {
            response = try await next(request)
        } catch {
            return try Self.problem(for: error, request)
        }
        guard response.completion == nil else {
            return response.finishing { result in
                guard case .failure(let error) = result else { return result }
                return Result { try Self.problem(for: error, request) }
            }
        }
        return response
    }

    /// The problem `error` is answered with; ``AbortConnection`` is thrown on.
    private static func problem(for error: any Error, _ request: Request) throws -> Response {
        switch error {
        case let error as any HTTPResponseError:
            return error.response()
        case let abort as AbortConnection:
            throw abort
        case is CancellationError:
            return HTTPError.unavailable("The server is shutting down.").response()
        default:
            // The type name and description of our own errors carry no secrets; see STYLE.md.
            request.logger.error("unhandled error", metadata: ["error.type": "\(type(of: error))", "error": "\(error)"])
            return HTTPError.internal(requestID: request.id.isEmpty ? nil : request.id).response()
        }
    }
}
