import NIOCore
import NIOHTTP1

/// The per-connection bookkeeping between NIO's HTTP codec and ``HTTPConnection``'s request
/// loop. It counts the requests received and the responses sent, and from that:
///
/// - answers a request the parser rejects with a problem+json `400` (`431` when the headers are
///   too large) and `Connection: close`, after the responses owed to the requests before it, and
///   only then passes the error on, which ends the connection;
/// - closes connections whose client is too slow: `idleTimeout` runs from the moment the
///   connection opens or the last owed response ends until the next request's head has been
///   parsed, and `requestReadTimeout` from a head until its body has ended. While a request is
///   owed an answer no idle deadline runs; that is the handler's business;
/// - on graceful shutdown (`ChannelShouldQuiesceEvent`) closes the connection at once if nothing
///   is owed. A busy connection is left to the request loop, which answers its current request
///   with `Connection: close` and closes.
///
/// It stands in for NIO's `HTTPServerPipelineHandler`, which keeps pipelined responses in order
/// by not reading the next request until each response has ended. The request loop already
/// answers one request at a time, in order, so only the error, deadline and shutdown cases above
/// need the counts; stopping and restarting reads twice per request cost about a tenth of the
/// server's CPU on small requests. A pipelining client cannot queue much: `NIOAsyncChannel`
/// stops reading when its inbound buffer is full.
///
/// Deadlines are set once and not pushed back by traffic, so a client trickling bytes cannot
/// hold a connection. They move on every request, but the timer does not: it stays scheduled,
/// and when it fires early it re-arms for the current deadline, so a busy keep-alive connection
/// schedules a timer about once per timeout period rather than twice per request.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let idleTimeout: TimeAmount
    private let requestReadTimeout: TimeAmount
    /// Requests whose head has been read and whose response has not ended.
    private var owed = 0
    /// A request's head has been read, its end not yet.
    private var receiving = false
    /// A response's head has been written, its end not yet.
    private var responding = false
    /// A parser error waiting for the responses owed before it.
    private var deferredError: HTTPParserError?
    /// When the connection is to be closed; nil while a request is owed an answer.
    private var deadline: NIODeadline?
    private var timer: (task: Scheduled<Void>, firesAt: NIODeadline)?
    /// Told when the client closes its side or the connection drops.
    private let disconnect: ClientDisconnect

    init(idleTimeout: TimeAmount, requestReadTimeout: TimeAmount, disconnect: ClientDisconnect) {
        self.idleTimeout = idleTimeout
        self.requestReadTimeout = requestReadTimeout
        self.disconnect = disconnect
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
        self.disconnect.signal()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.cancelTimer()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head:
            self.owed += 1
            self.receiving = true
            self.setDeadline(after: self.requestReadTimeout, context: context)
        case .end:
            self.receiving = false
            self.deadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch Self.unwrapOutboundIn(data) {
        case .head(let head) where head.status.code < 200:
            context.write(data, promise: promise)
        case .head:
            self.responding = true
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            self.responding = false
            self.owed = max(0, self.owed - 1)
            context.write(data, promise: promise)
            if let error = self.deferredError, !self.owesEarlierResponses {
                self.deferredError = nil
                self.reject(error, context: context)
            } else if !self.receiving {
                // A pipelined request's body may still be arriving: its read deadline stands.
                if self.owed == 0 {
                    self.setDeadline(after: self.idleTimeout, context: context)
                } else {
                    self.deadline = nil
                }
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !self.owesEarlierResponses else {
            // The parser stops at its first error, so there is never a second one to keep.
            self.deferredError = parserError
            return
        }
        self.reject(parserError, context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            self.disconnect.signal()
        }
        if event is ChannelShouldQuiesceEvent, self.owed == 0 {
            // The last answer may still be waiting for a slow reader: closing the output first
            // lets it out, then the connection closes.
            let outputClosed = context.eventLoop.makePromise(of: Void.self)
            let loopBoundContext = context.loopBound
            outputClosed.futureResult.whenComplete { _ in loopBoundContext.value.close(promise: nil) }
            context.close(mode: .output, promise: outputClosed)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Whether a response is being written, or owed to a request that came whole before the one
    /// being received.
    private var owesEarlierResponses: Bool {
        self.responding || self.owed - (self.receiving ? 1 : 0) > 0
    }

    /// Answers a request the parser rejected, then passes the error on so that the request loop
    /// ends and the connection closes.
    private func reject(_ error: HTTPParserError, context: ChannelHandlerContext) {
        let problem: HTTPError
        switch error {
        case .headerOverflow:
            problem = HTTPError(.requestHeaderFieldsTooLarge, code: "headers_too_large", detail: "The request headers are too large.")
        default:
            problem = .badRequest("The request is not valid HTTP/1.1.")
        }
        let response = problem.response()
        context.write(Self.wrapOutboundOut(.head(response.head(keepAlive: false))), promise: nil)
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        context.fireErrorCaught(error)
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
