import NIOCore
import NIOPosix

/// An HTTP response as read off the wire.
struct RawResponse {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: String

    func header(_ name: String) -> String? {
        self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// A plain TCP connection for what an HTTP client library would hide: pipelining, malformed
/// requests, slow clients, early closes.
struct RawConnection {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var buffer = ByteBuffer()
    private var closed = false

    /// Connects to `127.0.0.1:port` and runs `body` with the connection, then closes it.
    ///
    /// `sending` is written the moment the connection is up, by the event loop that made it: a
    /// test of a server deadline counted from the connection's start cannot then fail because
    /// its own task waited seconds for a thread (the suite's first seconds on two cores).
    static func with<T: Sendable>(port: Int, sending initial: String? = nil, _ body: (inout RawConnection) async throws -> T) async throws -> T {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let initial { try channel.pipeline.syncOperations.addHandler(WriteOnConnect(bytes: ByteBuffer(string: initial))) }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = RawConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&connection)
        }
    }

    private init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.inbound = inbound
        self.outbound = outbound
    }

    mutating func send(_ text: String) async throws {
        try await self.outbound.write(ByteBuffer(string: text))
    }

    /// Reads one complete response (bodies by Content-Length); nil if the server closed first.
    mutating func readResponse() async throws -> RawResponse? {
        while true {
            if let response = self.parseResponse() { return response }
            guard try await self.fill() else { return nil }
        }
    }

    /// Whether the server closes the connection without sending anything more.
    mutating func isClosedByServer() async throws -> Bool {
        while try await self.fill() {
            if self.buffer.readableBytes > 0 { return false }
        }
        return true
    }

    private mutating func fill() async throws -> Bool {
        guard !self.closed else { return false }
        do {
            guard var chunk = try await self.inbound.next() else {
                self.closed = true
                return false
            }
            self.buffer.writeBuffer(&chunk)
            return true
        } catch {
            // A reset is a close as far as these tests are concerned.
            self.closed = true
            return false
        }
    }

    private mutating func parseResponse() -> RawResponse? {
        let view = self.buffer.readableBytesView
        guard let headEnd = view.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
        let headText = String(decoding: view[view.startIndex..<headEnd.lowerBound], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        let headers = lines.compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let length = headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) } ?? 0
        let bodyStart = headEnd.upperBound
        guard view.endIndex - bodyStart >= length else { return nil }
        let body = String(decoding: view[bodyStart..<(bodyStart + length)], as: UTF8.self)
        self.buffer.moveReaderIndex(forwardBy: bodyStart + length - view.startIndex)
        return RawResponse(status: status, headers: headers, body: body)
    }
}

/// Writes `bytes` when the connection becomes active, on its event loop.
private final class WriteOnConnect: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let bytes: ByteBuffer

    init(bytes: ByteBuffer) { self.bytes = bytes }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(self.wrapOutboundOut(self.bytes), promise: nil)
        context.fireChannelActive()
    }
}

import Foundation
