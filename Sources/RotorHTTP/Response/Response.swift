public import Foundation
public import NIOCore
public import NIOHTTP1
import NIOFoundationCompat

/// A complete HTTP response. Rotor's bodies are small JSON documents, so they are held whole.
public struct Response: Sendable {
    /// The status line's code.
    public var status: HTTPResponseStatus
    /// Response headers; `Content-Length` and `Connection` are set by the server.
    public var headers: HTTPHeaders
    /// The body bytes.
    public var body: ByteBuffer
    /// For a request that waits (a long-poll): the answer still to be made. See ``deferred(_:)``.
    public var completion: Completion?

    /// Creates a response from a buffer.
    public init(status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Creates a response from `Data`.
    public init(status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:], body: Data) {
        self.init(status: status, headers: headers, body: ByteBuffer(data: body))
    }

    /// A JSON response encoded with ``JSONCoding/encoder``.
    public static func json(_ value: some Encodable, status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:]) throws -> Response {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        return Response(status: status, headers: headers, body: try JSONCoding.encoder.encode(value))
    }

    /// A plain response with a fixed content type, e.g. the OpenAPI document.
    public static func text(_ text: String, contentType: String, status: HTTPResponseStatus = .ok) -> Response {
        Response(status: status, headers: ["Content-Type": contentType], body: ByteBuffer(string: text))
    }

    /// An answer that waits before it is made (a long-poll).
    ///
    /// The handler returns this placeholder at once. Each middleware that works on answers adds
    /// a synchronous step for the final one (``finishing(_:)``: a header, a log line, an error
    /// made a problem); the server runs `wait` once the handler and its middleware have
    /// returned, in the connection's task and outside the in-flight count, then the steps, the
    /// innermost middleware's first. Why: a Swift task keeps the memory of the deepest call stack
    /// it reached until it ends, so a request that waited inside its handler held every
    /// middleware's and the handler's frames for the whole wait (27 KB each; 10,000 long-polls
    /// cost 400 MB). The server handles each request in a child task that ends with the handler,
    /// and the wait holds only its own frames. `wait` runs without the handler's task-local values.
    public static func deferred(_ wait: @escaping @Sendable () async throws -> Response) -> Response {
        var response = Response()
        response.completion = Completion(wait: wait, steps: [])
        return response
    }

    /// This placeholder with `step` run on its final answer (or on the error its wait threw)
    /// after the steps added before it.
    public func finishing(_ step: @escaping @Sendable (Result<Response, any Error>) -> Result<Response, any Error>) -> Response {
        var response = self
        response.completion?.steps.append(step)
        return response
    }

    /// A deferred answer's wait and the middleware's steps for its result.
    public struct Completion: Sendable {
        let wait: @Sendable () async throws -> Response
        var steps: [@Sendable (Result<Response, any Error>) -> Result<Response, any Error>]

        /// Waits, then runs the steps.
        public func run() async -> Result<Response, any Error> {
            var result: Result<Response, any Error>
            do {
                result = .success(try await self.wait())
            } catch {
                result = .failure(error)
            }
            for step in self.steps { result = step(result) }
            return result
        }
    }

    /// `204 No Content`.
    public static var noContent: Response { Response(status: .noContent) }
}
