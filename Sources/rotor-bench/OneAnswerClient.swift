import NIOCore
import NIOHTTP1
import NIOPosix

/// One GET on a connection of its own, answered once: how `rotor-bench waits` holds thousands of
/// waiting requests. It is NIO's HTTP codec and a handler, no connection pool: with 10,000
/// answers arriving within a second, AsyncHTTPClient's per-request machinery took CPU from the
/// server on the same two cores and delayed the answers it was timing.
enum OneAnswerClient {
    /// What came back: the status, the body, and when the last byte arrived (on the event loop,
    /// before any task is scheduled to look at it).
    struct Answer: Sendable {
        var status: UInt
        var headers: HTTPHeaders
        var body: ByteBuffer
        var at: ContinuousClock.Instant
    }

    /// Sends `GET path` with `headers` to `127.0.0.1:port` and waits for the whole answer.
    static func get(port: Int, path: String, headers: HTTPHeaders) async throws -> Answer {
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: Answer.self)
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(AnswerHandler(promise: promise))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        head.headers.replaceOrAdd(name: "Host", value: "127.0.0.1:\(port)")
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        return try await promise.futureResult.get()
    }

    private final class AnswerHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart

        private let promise: EventLoopPromise<Answer>
        private var status: UInt = 0
        private var headers = HTTPHeaders()
        private var body = ByteBuffer()
        private var done = false

        init(promise: EventLoopPromise<Answer>) { self.promise = promise }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch self.unwrapInboundIn(data) {
            case .head(let head):
                self.status = head.status.code
                self.headers = head.headers
            case .body(var chunk):
                self.body.writeBuffer(&chunk)
            case .end:
                self.done = true
                self.promise.succeed(Answer(status: self.status, headers: self.headers, body: self.body, at: .now))
                context.close(promise: nil)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            if !self.done {
                self.done = true
                self.promise.fail(error)
            }
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            if !self.done {
                self.done = true
                self.promise.fail(ChannelError.eof)
            }
        }
    }
}
