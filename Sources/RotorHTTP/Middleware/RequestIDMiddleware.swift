import Logging
import NIOHTTP1

/// Gives every request an id: the client's `X-Request-Id` when it is a sane token, otherwise a
/// fresh one. The id goes into the request's logger metadata and back in the response header.
public struct RequestIDMiddleware: Middleware {
    /// Creates the middleware.
    public init() {}

    public func respond(to request: Request, next: Responder) async throws -> Response {
        var request = request
        let id = request.headers.first(name: "X-Request-Id").flatMap(Self.acceptable) ?? RequestIDGenerator.next()
        request.id = id
        request.logger[metadataKey: LogKey.requestID] = .string(id)
        var response: Response
        do {
            response = try await next(request)
        } catch let error as any HTTPResponseError {
            // Errors leave here as responses so that they carry the id too.
            response = error.response()
        }
        guard response.completion == nil else {
            return response.finishing { result in
                switch result {
                case .success(var response):
                    response.headers.replaceOrAdd(name: "X-Request-Id", value: id)
                    return .success(response)
                case .failure(let error as any HTTPResponseError):
                    var response = error.response()
                    response.headers.replaceOrAdd(name: "X-Request-Id", value: id)
                    return .success(response)
                case .failure:
                    return result
                }
            }
        }
        response.headers.replaceOrAdd(name: "X-Request-Id", value: id)
        return response
    }

    static func acceptable(_ candidate: String) -> String? {
        guard (1...128).contains(candidate.utf8.count),
            candidate.utf8.allSatisfy({ byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
                    || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":")
            })
        else { return nil }
        return candidate
    }
}
