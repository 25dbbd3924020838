import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Serves the requests of one connection, one at a time, in order.
///
/// Answering sequentially keeps pipelined responses in request order; ``ConnectionGuardHandler``
/// keeps a parser error's answer behind them.
struct HTTPConnection {
    typealias Channel = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    let responder: Responder
    let configuration: HTTPServerConfiguration
    let logger: Logger
    /// Graceful shutdown has begun: the request being answered is the connection's last.
    let draining: DrainingFlag

    /// Never throws: one bad connection must not disturb the server.
    func serve(_ channel: Channel) async {
        let remoteAddress = channel.channel.remoteAddress
        do {
            try await channel.executeThenClose { inbound, outbound in
                var parts = inbound.makeAsyncIterator()
                while let part = try await parts.next() {
                    guard case .head(let head) = part else {
                        // The decoder always starts a request with its head.
                        return
                    }
                    let keepOpen = try await self.serveRequest(head, parts: &parts, outbound: outbound, remoteAddress: remoteAddress)
                    if !keepOpen { return }
                }
            }
        } catch {
            // Parser errors were already answered by ConnectionGuardHandler; resets and timeouts
            // need no answer.
            self.logger.trace("connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// Answers one request; returns whether the connection stays open.
    private func serveRequest(
        _ head: HTTPRequestHead,
        parts: inout NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
        remoteAddress: SocketAddress?
    ) async throws -> Bool {
        let limit = self.configuration.maxBodySize
        let expectsContinue = head.headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }

        if head.uri.utf8.count > self.configuration.maxURILength {
            let problem = HTTPError(.uriTooLong, code: "uri_too_long", detail: "The request target exceeds \(self.configuration.maxURILength) bytes.")
            try await self.write(problem.response(), for: head, keepAlive: false, to: outbound)
            return false
        }
        if let declared = head.headers.first(name: "Content-Length").flatMap(Int.init), declared > limit {
            // Refuse before reading: a client that sent `Expect: 100-continue` never sends it.
            try await self.write(HTTPError.payloadTooLarge(limit: limit).response(), for: head, keepAlive: false, to: outbound)
            if !expectsContinue { try await self.drain(&parts) }
            return false
        }
        if expectsContinue {
            try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .continue)))
        }

        var body = ByteBuffer()
        reading: while let part = try await parts.next() {
            switch part {
            case .body(var chunk):
                guard body.readableBytes + chunk.readableBytes <= limit else {
                    try await self.write(HTTPError.payloadTooLarge(limit: limit).response(), for: head, keepAlive: false, to: outbound)
                    try await self.drain(&parts)
                    return false
                }
                body.writeBuffer(&chunk)
            case .end:
                break reading
            case .head:
                return false
            }
        }

        guard let response = await self.respond(head, body: body, remoteAddress: remoteAddress) else {
            return false  // the handler asked to drop the connection unanswered
        }
        // During graceful shutdown this is the last answer; requests pipelined behind it are
        // dropped unanswered (the client sees `Connection: close` and may send them elsewhere).
        let keepAlive =
            head.isKeepAlive && !self.draining.isSet
            && !response.headers[canonicalForm: "connection"].contains { $0.lowercased() == "close" }
        try await self.write(response, for: head, keepAlive: keepAlive, to: outbound)
        return keepAlive
    }

    /// The response, or nil when the handler threw ``AbortConnection``.
    private func respond(_ head: HTTPRequestHead, body: ByteBuffer, remoteAddress: SocketAddress?) async -> Response? {
        do {
            let request = try Request(
                method: head.method,
                uri: head.uri,
                headers: head.headers,
                body: body,
                logger: self.logger,
                remoteAddress: remoteAddress
            )
            return try await self.responder(request)
        } catch let error as any HTTPResponseError {
            return error.response()
        } catch is AbortConnection {
            return nil
        } catch {
            self.logger.error("unhandled error", metadata: ["error.type": "\(type(of: error))"])
            return HTTPError.internal(requestID: nil).response()
        }
    }

    private func write(
        _ response: Response,
        for request: HTTPRequestHead,
        keepAlive: Bool,
        to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    ) async throws {
        let head = response.head(keepAlive: keepAlive)
        if request.method == .HEAD || response.body.readableBytes == 0 {
            try await outbound.write(contentsOf: [.head(head), .end(nil)])
        } else {
            try await outbound.write(contentsOf: [.head(head), .body(.byteBuffer(response.body)), .end(nil)])
        }
    }

    /// Reads and discards the rest of a refused body (up to 1 MiB), so that the client is
    /// reading our answer, not a reset, when the connection closes.
    private func drain(_ parts: inout NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator) async throws {
        var discarded = 0
        while discarded < 1 << 20, let part = try await parts.next() {
            switch part {
            case .body(let chunk): discarded += chunk.readableBytes
            case .end, .head: return
            }
        }
    }
}

/// Whether the server is shutting down gracefully; set once, read by every connection.
final class DrainingFlag: Sendable {
    private let value = Atomic(false)

    var isSet: Bool { self.value.load(ordering: .acquiring) }

    func set() { self.value.store(true, ordering: .releasing) }
}
