import NIOCore
import NIOHTTP1

/// Answers requests the HTTP parser rejects with a problem+json `400` (or `431` when the headers
/// are too large) and `Connection: close`; NIO's decoder closes the connection right after.
///
/// Modelled on NIO's `HTTPServerProtocolErrorHandler`, whose bare 400 has no body.
final class ProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var hasUnterminatedResponse = false

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        // A response already on the wire cannot be interrupted by another; the close that
        // follows is all the client gets.
        if !self.hasUnterminatedResponse {
            let problem: HTTPError
            switch parserError {
            case .headerOverflow:
                problem = HTTPError(.requestHeaderFieldsTooLarge, code: "headers_too_large", detail: "The request headers are too large.")
            default:
                problem = .badRequest("The request is not valid HTTP/1.1.")
            }
            let response = problem.response()
            context.write(Self.wrapOutboundOut(.head(response.head(keepAlive: false))), promise: nil)
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch Self.unwrapOutboundIn(data) {
        case .head(let head) where head.status.code < 200:
            break
        case .head:
            self.hasUnterminatedResponse = true
        case .body:
            break
        case .end:
            self.hasUnterminatedResponse = false
        }
        context.write(data, promise: promise)
    }
}

extension Response {
    /// The response head as the server sends it: `Content-Length` from the body (except where
    /// a body is forbidden), and `Connection: close` when the connection ends after it.
    func head(keepAlive: Bool) -> HTTPResponseHead {
        var headers = self.headers
        if self.status == .noContent || self.status == .notModified || self.status.code < 200 {
            headers.remove(name: "Content-Length")
        } else {
            headers.replaceOrAdd(name: "Content-Length", value: String(self.body.readableBytes))
        }
        if !keepAlive {
            headers.replaceOrAdd(name: "Connection", value: "close")
        }
        return HTTPResponseHead(version: .http1_1, status: self.status, headers: headers)
    }
}
