import NIOCore
import NIOHTTP1

/// Closes connections whose client is too slow.
///
/// Two deadlines, each armed once and not pushed back by traffic: `idleTimeout` from the moment
/// the connection opens or a response ends until the next request's head has been parsed, and
/// `requestReadTimeout` from a head until its body has ended. While a handler computes a response
/// no deadline runs; that is the handler's business.
final class ConnectionTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let idleTimeout: TimeAmount
    private let requestReadTimeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(idleTimeout: TimeAmount, requestReadTimeout: TimeAmount) {
        self.idleTimeout = idleTimeout
        self.requestReadTimeout = requestReadTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            self.arm(self.idleTimeout, context: context)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.arm(self.idleTimeout, context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.disarm()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.disarm()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head:
            self.arm(self.requestReadTimeout, context: context)
        case .end:
            self.disarm()
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = Self.unwrapOutboundIn(data) {
            self.arm(self.idleTimeout, context: context)
        }
        context.write(data, promise: promise)
    }

    private func arm(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        self.deadline?.cancel()
        let channel = context.channel
        self.deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            channel.close(promise: nil)
        }
    }

    private func disarm() {
        self.deadline?.cancel()
        self.deadline = nil
    }
}
