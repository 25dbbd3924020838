import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Serves the requests of one connection, one at a time, in order.
///
/// Answering sequentially keeps pipelined responses in request order; ``ConnectionGuardHandler``
/// keeps a parser error's answer behind them.
struct HTTPConnection: Sendable {
    typealias Channel = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    let responder: Responder
    let configuration: HTTPServerConfiguration
    let logger: Logger
    /// Graceful shutdown has begun: the request being answered is the connection's last.
    let draining: DrainingFlag
    /// Connections and requests in flight, against their caps.
    let load: ServerLoad

    /// Never throws: one bad connection must not disturb the server.
    func serve(_ channel: Channel, disconnect: ClientDisconnect) async {
        let remoteAddress = channel.channel.remoteAddress
        do {
            try await channel.executeThenClose { inbound, outbound in
                var parts = inbound.makeAsyncIterator()
                while let part = try await parts.next() {
                    guard case .head(let head) = part else {
                        // The decoder always starts a request with its head.
                        return
                    }
                    let keepOpen = try await self.serveRequest(
                        head, parts: &parts, outbound: outbound, remoteAddress: remoteAddress, disconnect: disconnect)
                    if !keepOpen { return }
                }
            }
        } catch {
            // Parser errors were already answered by ConnectionGuardHandler; resets and timeouts
            // need no answer.
            self.logger.trace("connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// Answers a connection over ``HTTPServerConfiguration/maxConnections``: its first request
    /// gets `503` with `Retry-After` and `Connection: close`. The request is read first, so the
    /// client is reading the answer, not a reset, when the connection closes.
    func refuse(_ channel: Channel) async {
        do {
            try await channel.executeThenClose { inbound, outbound in
                var parts = inbound.makeAsyncIterator()
                guard case .head(let head)? = try await parts.next() else { return }
                try await self.drain(&parts)
                try await self.write(Self.overloaded("The server holds as many connections as it may."), for: head, keepAlive: false, to: outbound)
            }
        } catch {
            self.logger.trace("refused connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// `503 unavailable`, to retry in a second.
    static func overloaded(_ detail: String) -> Response {
        var response = HTTPError.unavailable(detail + " Retry shortly.").response()
        response.headers.replaceOrAdd(name: "Retry-After", value: "1")
        return response
    }

    /// Answers one request; returns whether the connection stays open.
    private func serveRequest(
        _ head: HTTPRequestHead,
        parts: inout NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
        remoteAddress: SocketAddress?,
        disconnect: ClientDisconnect
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

        // In a task of its own, which ends with the handler: what a deferred answer then waits
        // for is held by this shallow task alone (``Response/deferred(_:)`` says why).
        // (A task group's child, not `async let`, whose child allocates from its parent's memory.)
        let collected = body
        let answered = await withTaskGroup(of: Response?.self) { group in
            group.addTask { await self.respond(head, body: collected, remoteAddress: remoteAddress, disconnect: disconnect) }
            return await group.next() ?? nil
        }
        guard var response = answered else {
            return false  // the handler asked to drop the connection unanswered
        }
        while let completion = response.completion {
            self.load.beginWait()
            defer { self.load.endWait() }
            guard let completed = await self.answer({ try await completion.run().get() }) else { return false }
            response = completed
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
    private func respond(_ head: HTTPRequestHead, body: ByteBuffer, remoteAddress: SocketAddress?, disconnect: ClientDisconnect) async -> Response? {
        let counted = !self.isUnlimited(head.uri)
        if counted {
            switch self.load.beginRequest() {
            case .now:
                break
            case .queued(let ticket):
                guard await self.load.waitForSlot(ticket) else { return Self.overloaded("The server is working on as many requests as it may.") }
            case .refused:
                return Self.overloaded("The server is working on as many requests as it may.")
            }
        }
        defer { if counted { self.load.endRequest() } }
        return await self.answer {
            var request = try Request(
                method: head.method,
                uri: head.uri,
                headers: head.headers,
                body: body,
                logger: self.logger,
                remoteAddress: remoteAddress
            )
            request.clientDisconnect = disconnect
            return try await self.responder(request)
        }
    }

    /// What `body` answers: its response, a thrown error's problem, or nil when it threw
    /// ``AbortConnection``.
    private func answer(_ body: () async throws -> Response) async -> Response? {
        do {
            return try await body()
        } catch let error as any HTTPResponseError {
            return error.response()
        } catch is AbortConnection {
            return nil
        } catch {
            self.logger.error("unhandled error", metadata: ["error.type": "\(type(of: error))"])
            return HTTPError.internal(requestID: nil).response()
        }
    }

    /// Whether the request target's path is one of ``HTTPServerConfiguration/unlimitedPaths``.
    private func isUnlimited(_ uri: String) -> Bool {
        let paths = self.configuration.unlimitedPaths
        guard !paths.isEmpty else { return false }
        let path = uri.firstIndex(of: "?").map { String(uri[..<$0]) } ?? uri
        return paths.contains(path)
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

/// Whether the server is shutting down gracefully; set once, read by every connection. Each open
/// connection also ends its long waits when it is set (``ClientDisconnect``), so that a held
/// `?wait=` answers at once instead of holding the shutdown for up to a minute.
final class DrainingFlag: Sendable {
    private let value = Atomic(false)
    /// The observers of the shutdown: the same once-only signal a connection's end is.
    private let shutdown = ClientDisconnect()

    var isSet: Bool { self.value.load(ordering: .acquiring) }

    func set() {
        self.value.store(true, ordering: .releasing)
        self.shutdown.signal()
    }

    /// Calls `observer` once when the flag is set (at once if it is); returns a token for
    /// ``removeObserver(_:)``, nil when it was called at once.
    func observe(_ observer: @escaping @Sendable () -> Void) -> Int? { self.shutdown.observe(observer) }

    func removeObserver(_ id: Int?) {
        if let id { self.shutdown.removeObserver(id) }
    }
}
