import NIOCore
import NIOHTTP1

/// Closes connections whose client is too slow.
///
/// Two deadlines, each set once and not pushed back by traffic: `idleTimeout` from the moment
/// the connection opens or a response ends until the next request's head has been parsed, and
/// `requestReadTimeout` from a head until its body has ended. While a handler computes a response
/// no deadline runs; that is the handler's business.
///
/// Deadlines move on every request, but the timer does not: it stays scheduled, and when it fires
/// early it re-arms for the current deadline. A busy keep-alive connection therefore schedules a
/// timer about once per timeout period rather than twice per request.
final class ConnectionTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let idleTimeout: TimeAmount
    private let requestReadTimeout: TimeAmount
    /// When the connection is to be closed; nil while a response is being computed.
    private var deadline: NIODeadline?
    private var timer: (task: Scheduled<Void>, firesAt: NIODeadline)?

    init(idleTimeout: TimeAmount, requestReadTimeout: TimeAmount) {
        self.idleTimeout = idleTimeout
        self.requestReadTimeout = requestReadTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            self.setDeadline(after: self.idleTimeout, context: context)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.setDeadline(after: self.idleTimeout, context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.cancelTimer()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.cancelTimer()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head:
            self.setDeadline(after: self.requestReadTimeout, context: context)
        case .end:
            self.deadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = Self.unwrapOutboundIn(data) {
            self.setDeadline(after: self.idleTimeout, context: context)
        }
        context.write(data, promise: promise)
    }

    private func setDeadline(after timeout: TimeAmount, context: ChannelHandlerContext) {
        let deadline = NIODeadline.now() + timeout
        self.deadline = deadline
        // A timer that fires no later than the deadline will re-arm itself; only an earlier
        // deadline needs a new one.
        if let timer = self.timer, timer.firesAt <= deadline { return }
        self.schedule(at: deadline, channel: context.channel)
    }

    private func schedule(at when: NIODeadline, channel: any Channel) {
        self.timer?.task.cancel()
        let task = channel.eventLoop.assumeIsolated().scheduleTask(deadline: when) { [weak self] in
            guard let self else { return }
            self.timerFired(channel: channel)
        }
        self.timer = (task, when)
    }

    private func timerFired(channel: any Channel) {
        self.timer = nil
        guard let deadline = self.deadline else { return }
        if deadline <= .now() {
            channel.close(promise: nil)
        } else {
            self.schedule(at: deadline, channel: channel)
        }
    }

    private func cancelTimer() {
        self.timer?.task.cancel()
        self.timer = nil
    }
}
