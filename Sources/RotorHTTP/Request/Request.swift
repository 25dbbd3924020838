public import Logging
public import NIOCore
public import NIOHTTP1

/// One HTTP request, with its body already collected (bounded by the server's body limit).
public struct Request: Sendable {
    /// The method.
    public var method: HTTPMethod
    /// The request target exactly as received (path and query, still percent-encoded).
    public var uri: String
    /// The path's segments, percent-decoded; empty segments are dropped, so a trailing slash
    /// does not matter.
    public var pathSegments: [String]
    /// The decoded query parameters.
    public var query: QueryParameters
    /// The request headers.
    public var headers: HTTPHeaders
    /// The body bytes (empty when there was none).
    public var body: ByteBuffer
    /// Values captured by `{param}` path segments of the matched route.
    public var parameters: Parameters
    /// Values attached by middleware (for example the authenticated principal).
    public var attributes: RequestAttributes
    /// This request's id (`X-Request-Id`), set by ``RequestIDMiddleware``.
    public var id: String
    /// A logger whose metadata carries the request id.
    public var logger: Logger
    /// The peer's address, when known.
    public var remoteAddress: SocketAddress?
    /// Fires when the client goes away while the request is being handled; nil for requests
    /// that did not come over a connection (tests).
    public internal(set) var clientDisconnect: ClientDisconnect?

    /// Creates a request. `uri` is split into path and query here; a malformed percent-encoding
    /// throws a 400 problem.
    public init(
        method: HTTPMethod,
        uri: String,
        headers: HTTPHeaders = [:],
        body: ByteBuffer = ByteBuffer(),
        logger: Logger,
        remoteAddress: SocketAddress? = nil
    ) throws(HTTPError) {
        let target = try RequestTarget(uri)
        self.method = method
        self.uri = uri
        self.pathSegments = target.pathSegments
        self.query = target.query
        self.headers = headers
        self.body = body
        self.parameters = Parameters()
        self.attributes = RequestAttributes()
        self.id = ""
        self.logger = logger
        self.remoteAddress = remoteAddress
    }

    /// The decoded path, segments joined by `/`.
    public var path: String { "/" + self.pathSegments.joined(separator: "/") }
}
