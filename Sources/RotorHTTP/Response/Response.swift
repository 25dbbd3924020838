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

    /// `204 No Content`.
    public static var noContent: Response { Response(status: .noContent) }
}
