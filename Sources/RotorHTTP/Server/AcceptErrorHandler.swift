import Logging
import NIOCore

/// Keeps one failed connection from stopping the listener.
///
/// An error on the server channel (an accepted socket that could not be set up, a connection
/// aborted before accept) would otherwise reach the async accept loop and end it, taking the
/// whole service down. They are logged and dropped here instead; NIO's accept back-off still
/// handles running out of file descriptors.
final class AcceptErrorHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.logger.warning("accepting a connection failed", metadata: ["error": "\(error)"])
    }
}
