import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorHTTP
import Synchronization
import Testing

/// Tests over a real socket on port 0.
@Suite(.timeLimit(.minutes(1))) struct LiveServerTests {
    private static func router() -> RouterResponder {
        let router = Router()
        router.use(RequestIDMiddleware())
        router.use(ErrorMiddleware())
        router.get("/hello") { _ in .text("hello", contentType: "text/plain") }
        router.post("/echo") { request in
            Response(status: .ok, headers: ["Content-Type": "application/octet-stream"], body: request.body)
        }
        router.get("/slow/{ms}") { request in
            try await Task.sleep(for: .milliseconds(Int(request.parameters["ms"] ?? "0") ?? 0))
            return .text("slow \(request.parameters["ms"] ?? "")", contentType: "text/plain")
        }
        router.get("/item/{id}") { request in .text("item \(request.parameters["id"] ?? "")", contentType: "text/plain") }
        router.get("/vanish") { _ in throw AbortConnection() }
        return router.buildResponder()
    }

    private func withServer<T: Sendable>(
        _ configuration: HTTPServerConfiguration = HTTPServerConfiguration(host: "127.0.0.1", port: 0),
        _ body: @Sendable (Int) async throws -> T
    ) async throws -> T {
        try await HTTPServer.withRunningServer(configuration: configuration, responder: Self.router(), logger: Logger(label: "test")) { address in
            try await body(try #require(address.port))
        }
    }

    @Test("AsyncHTTPClient gets answers over a real socket")
    func asyncHTTPClient() async throws {
        try await self.withServer { port in
            let hello = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/hello"), timeout: .seconds(30))
            #expect(hello.status == .ok)
            #expect(String(buffer: try await hello.body.collect(upTo: 1024)) == "hello")
            #expect(hello.headers["X-Request-Id"].count == 1)

            var post = HTTPClientRequest(url: "http://127.0.0.1:\(port)/echo")
            post.method = .POST
            post.body = .bytes(ByteBuffer(string: String(repeating: "x", count: 60_000)))
            let echoed = try await HTTPClient.shared.execute(post, timeout: .seconds(30))
            #expect(echoed.status == .ok)
            #expect(try await echoed.body.collect(upTo: 100_000).readableBytes == 60_000)

            let missing = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/missing"), timeout: .seconds(30))
            #expect(missing.status == .notFound)
            #expect(missing.headers["Content-Type"] == ["application/problem+json"])
        }
    }

    @Test("a body over the limit is refused with 413 problem+json, and the server keeps serving")
    func payloadTooLarge() async throws {
        try await self.withServer(HTTPServerConfiguration(host: "127.0.0.1", port: 0, maxBodySize: 1024)) { port in
            var post = HTTPClientRequest(url: "http://127.0.0.1:\(port)/echo")
            post.method = .POST
            post.body = .bytes(ByteBuffer(string: String(repeating: "x", count: 4096)))
            let response = try await HTTPClient.shared.execute(post, timeout: .seconds(30))
            #expect(response.status == .payloadTooLarge)
            let body = String(buffer: try await response.body.collect(upTo: 4096))
            #expect(body.contains(#""code":"payload_too_large""#))

            // Chunked, so the size is only known while reading.
            let chunked = try await RawConnection.with(port: port) { connection in
                try await connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                for _ in 0..<3 {
                    try await connection.send("200\r\n" + String(repeating: "y", count: 512) + "\r\n")
                }
                try await connection.send("0\r\n\r\n")
                return try await connection.readResponse()
            }
            #expect(chunked?.status == 413)
            #expect(chunked?.header("Connection") == "close")

            let exactlyAtLimit = try await RawConnection.with(port: port) { connection in
                try await connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n" + String(repeating: "z", count: 1024))
                return try await connection.readResponse()
            }
            #expect(exactlyAtLimit?.status == 200)
            #expect(exactlyAtLimit?.body.count == 1024)
        }
    }

    @Test("Expect: 100-continue gets 100 before the body, or 413 at once when too large")
    func expectContinue() async throws {
        try await self.withServer(HTTPServerConfiguration(host: "127.0.0.1", port: 0, maxBodySize: 1024)) { port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
                #expect(try await connection.readResponse()?.status == 100)
                try await connection.send("abcde")
                let response = try await connection.readResponse()
                #expect(response?.status == 200)
                #expect(response?.body == "abcde")
            }
            try await RawConnection.with(port: port) { connection in
                try await connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\nExpect: 100-continue\r\n\r\n")
                #expect(try await connection.readResponse()?.status == 413)
                #expect(try await connection.isClosedByServer())
            }
        }
    }

    @Test("keep-alive serves several requests on one connection")
    func keepAlive() async throws {
        try await self.withServer { port in
            try await RawConnection.with(port: port) { connection in
                for id in 1...3 {
                    try await connection.send("GET /item/\(id) HTTP/1.1\r\nHost: x\r\n\r\n")
                    let response = try #require(try await connection.readResponse())
                    #expect(response.status == 200)
                    #expect(response.body == "item \(id)")
                    #expect(response.header("Connection") == nil)
                }
            }
        }
    }

    @Test("pipelined requests are answered in order, even when the first is slowest")
    func pipelining() async throws {
        try await self.withServer { port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send(
                    "GET /slow/150 HTTP/1.1\r\nHost: x\r\n\r\n" + "GET /item/a HTTP/1.1\r\nHost: x\r\n\r\n"
                        + "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz" + "GET /item/b HTTP/1.1\r\nHost: x\r\n\r\n"
                )
                var bodies: [String] = []
                for _ in 0..<4 {
                    bodies.append(try #require(try await connection.readResponse()).body)
                }
                #expect(bodies == ["slow 150", "item a", "xyz", "item b"])
            }
        }
    }

    @Test("a malformed request pipelined behind a slow one is refused only after the slow one's answer")
    func malformedAfterPipelined() async throws {
        try await self.withServer { port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send("GET /slow/300 HTTP/1.1\r\nHost: x\r\n\r\n" + "GARBAGE\r\n\r\n")
                let first = try #require(try await connection.readResponse())
                #expect(first.status == 200)
                #expect(first.body == "slow 300")
                let second = try #require(try await connection.readResponse())
                #expect(second.status == 400)
                #expect(second.body.contains(#""code":"bad_request""#))
                #expect(second.header("Connection") == "close")
                #expect(try await connection.isClosedByServer())
            }
        }
    }

    @Test("a pipelined request that takes longer than the idle timeout is not cut off")
    func pipelinedSlowRequestIsNotIdle() async throws {
        // The idle deadline starts after the last owed answer, not after the first of two. The
        // requests go out as the connection opens (the test's own task can wait seconds for a
        // thread in the suite's first seconds on two cores).
        let configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, idleTimeout: .seconds(2))
        try await self.withServer(configuration) { port in
            try await RawConnection.with(port: port, sending: "GET /slow/50 HTTP/1.1\r\nHost: x\r\n\r\n" + "GET /slow/6000 HTTP/1.1\r\nHost: x\r\n\r\n") { connection in
                let first = try await connection.readResponse()
                #expect(first?.body == "slow 50")
                #expect(try await connection.readResponse()?.body == "slow 6000")
                #expect(try await connection.isClosedByServer())
            }
        }
    }

    @Test("Connection: close and HTTP/1.0 without keep-alive close after the response")
    func connectionClose() async throws {
        try await self.withServer { port in
            for request in ["GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "GET /hello HTTP/1.0\r\n\r\n"] {
                try await RawConnection.with(port: port) { connection in
                    try await connection.send(request)
                    let response = try #require(try await connection.readResponse())
                    #expect(response.status == 200)
                    #expect(response.header("Connection") == "close")
                    #expect(try await connection.isClosedByServer())
                }
            }
            // HTTP/1.0 that asks for keep-alive keeps it.
            try await RawConnection.with(port: port) { connection in
                try await connection.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                #expect(try await connection.readResponse()?.status == 200)
                try await connection.send("GET /item/2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                #expect(try await connection.readResponse()?.body == "item 2")
            }
        }
    }

    @Test("a malformed request gets a 400 problem and a clean close; the server keeps serving", arguments: [
        "GARBAGE\r\n\r\n",
        "GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        "GET /hello HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
        "GET /hello HTTP/9.9\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n",
    ])
    func malformed(request: String) async throws {
        try await self.withServer { port in
            try await RawConnection.with(port: port) { connection in
                // A good request first: its answer must not be disturbed by the bad one after it.
                try await connection.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try await connection.readResponse()?.status == 200)
                try await connection.send(request)
                let response = try #require(try await connection.readResponse())
                #expect(response.status == 400)
                #expect(response.header("Content-Type") == "application/problem+json")
                #expect(response.body.contains(#""code":"bad_request""#))
                #expect(response.header("Connection") == "close")
                #expect(try await connection.isClosedByServer())
            }
            let after = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/hello"), timeout: .seconds(30))
            #expect(after.status == .ok)
        }
    }

    @Test("an over-long request target is 414, over-large headers 431")
    func headerLimits() async throws {
        let configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, maxURILength: 100, maxHeaderSize: 2048)
        try await self.withServer(configuration) { port in
            let long = try await RawConnection.with(port: port) { connection in
                try await connection.send("GET /item/\(String(repeating: "a", count: 200)) HTTP/1.1\r\nHost: x\r\n\r\n")
                return try await connection.readResponse()
            }
            #expect(long?.status == 414)
            #expect(long?.body.contains(#""code":"uri_too_long""#) == true)

            let huge = try await RawConnection.with(port: port) { connection in
                try await connection.send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "b", count: 4096))\r\n\r\n")
                return try await connection.readResponse()
            }
            #expect(huge?.status == 431)
            #expect(huge?.body.contains(#""code":"headers_too_large""#) == true)
        }
    }

    @Test("an idle connection, or one trickling its headers, is closed at the idle deadline")
    func idleTimeout() async throws {
        // Three seconds: in a test run's first seconds on 2 cores, a client has taken over a second
        // to send the request it connected for, and found the connection already closed.
        let configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, idleTimeout: .seconds(3))
        try await self.withServer(configuration) { port in
            let start = ContinuousClock.now
            let closed = try await RawConnection.with(port: port) { connection in
                try await connection.isClosedByServer()
            }
            #expect(closed)
            #expect(ContinuousClock.now - start < .seconds(10))

            // Bytes that never complete a head do not push the deadline back.
            try await RawConnection.with(port: port) { connection in
                try await connection.send("GET /hello HTTP/1.1\r\n")
                for _ in 0..<40 {
                    try await Task.sleep(for: .milliseconds(100))
                    try? await connection.send("X-Slow: 1\r\n")
                }
                #expect(try await connection.isClosedByServer())
            }

            // After a response, the idle deadline starts again.
            try await RawConnection.with(port: port, sending: "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n") { connection in
                let response = try await connection.readResponse()
                #expect(response?.status == 200)
                #expect(try await connection.isClosedByServer())
            }
        }
    }

    @Test("a client that stalls in the middle of its body is cut off")
    func requestReadTimeout() async throws {
        let configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, requestReadTimeout: .milliseconds(300))
        try await self.withServer(configuration) { port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
                #expect(try await connection.isClosedByServer())
            }
        }
    }

    @Test("a slow handler is not cut off by the read deadline")
    func slowHandlerIsNotATimeout() async throws {
        // The request goes out as the connection opens; the handler takes three times longer
        // than either deadline.
        let configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, idleTimeout: .seconds(2), requestReadTimeout: .seconds(2))
        try await self.withServer(configuration) { port in
            try await RawConnection.with(port: port, sending: "GET /slow/6000 HTTP/1.1\r\nHost: x\r\n\r\n") { connection in
                let response = try await connection.readResponse()
                #expect(response?.body == "slow 6000")
            }
        }
    }

    /// A server whose `GET /gate` announces itself on `started` and answers only once
    /// `release` yields, so a test can shut the server down while a request is in flight; the
    /// caller's `routes` add to the same router. Runs `body` with the server and its port.
    private func withGatedServer(
        routes: (Router) -> Void = { _ in },
        _ body: (HTTPServer, Int, AsyncStream<Void>, AsyncStream<Void>.Continuation) async throws -> Void
    ) async throws {
        let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
        let (release, releaseContinuation) = AsyncStream.makeStream(of: Void.self)
        let router = Router()
        router.get("/hello") { _ in .text("hello", contentType: "text/plain") }
        router.get("/gate") { _ in
            startedContinuation.yield()
            for await _ in release { break }
            return .text("finished", contentType: "text/plain")
        }
        routes(router)
        let (bound, boundContinuation) = AsyncStream.makeStream(of: Int.self)
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0),
            responder: router.buildResponder(),
            logger: Logger(label: "test")
        ) { address in
            boundContinuation.yield(address.port ?? 0)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            var ports = bound.makeAsyncIterator()
            let port = try #require(await ports.next())
            try await body(server, port, started, releaseContinuation)
            try await group.waitForAll()
        }
    }

    @Test("graceful shutdown stops accepting, finishes the in-flight request, and closes idle connections")
    func gracefulShutdown() async throws {
        try await self.withGatedServer { server, port, started, release in
            try await RawConnection.with(port: port) { idle in
                try await idle.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try await idle.readResponse()?.status == 200)

                try await RawConnection.with(port: port) { busy in
                    try await busy.send("GET /gate HTTP/1.1\r\nHost: x\r\n\r\n")
                    var startedIterator = started.makeAsyncIterator()
                    _ = await startedIterator.next()

                    let shutdown = Task { await server.shutdownGracefully() }
                    #expect(try await idle.isClosedByServer())
                    await #expect(throws: (any Error).self) {
                        try await RawConnection.with(port: port) { _ in }
                    }

                    release.yield()
                    let response = try #require(try await busy.readResponse())
                    #expect(response.status == 200)
                    #expect(response.body == "finished")
                    #expect(response.header("Connection") == "close")
                    #expect(try await busy.isClosedByServer())
                    await shutdown.value
                }
            }
        }
    }

    @Test("graceful shutdown ends a held long wait at once: it answers what it has, with Connection: close, and the stop does not wait for it")
    func gracefulShutdownEndsWaits() async throws {
        try await self.withGatedServer(routes: { router in
            router.get("/wait") { request in
                let disconnect = request.clientDisconnect
                return .deferred {
                    // As `?wait=` does: until the deadline or the connection's end signal.
                    let deadline = ContinuousClock.now + .seconds(60)
                    while ContinuousClock.now < deadline, !(disconnect?.hasOccurred ?? false) { try await Task.sleep(for: .milliseconds(10)) }
                    return .text(disconnect?.hasOccurred == true ? "ended early" : "waited out", contentType: "text/plain")
                }
            }
        }) { server, port, _, _ in
            try await RawConnection.with(port: port) { connection in
                try await connection.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
                try await Task.sleep(for: .milliseconds(200))
                let started = ContinuousClock.now
                let shutdown = Task { await server.shutdownGracefully() }
                let response = try #require(try await connection.readResponse())
                #expect(response.body == "ended early")
                #expect(response.header("Connection") == "close")
                await shutdown.value
                #expect(ContinuousClock.now - started < .seconds(10), "the shutdown waited for the wait")
            }
        }
    }

    @Test("graceful shutdown answers the in-flight request last: requests pipelined behind it are not run")
    func gracefulShutdownDropsPipelined() async throws {
        let ran = Mutex(0)
        try await self.withGatedServer(routes: { router in
            router.post("/effect") { _ in
                ran.withLock { $0 += 1 }
                return .text("ran", contentType: "text/plain")
            }
        }) { server, port, started, release in
            try await RawConnection.with(port: port) { connection in
                try await connection.send(
                    "GET /gate HTTP/1.1\r\nHost: x\r\n\r\n" + "POST /effect HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                var startedIterator = started.makeAsyncIterator()
                _ = await startedIterator.next()
                let shutdown = Task { await server.shutdownGracefully() }
                // Give the quiesce event time to reach the connection before the answer is ready.
                try await Task.sleep(for: .milliseconds(100))
                release.yield()
                let response = try #require(try await connection.readResponse())
                #expect(response.body == "finished")
                #expect(response.header("Connection") == "close")
                #expect(try await connection.isClosedByServer())
                await shutdown.value
            }
        }
        #expect(ran.withLock { $0 } == 0, "a request pipelined behind the last answer ran")
    }

    @Test("graceful shutdown lets an answer still on its way to a slow reader out before closing")
    func gracefulShutdownFlushesAnswers() async throws {
        // Far more than the socket buffers and the client's read-ahead hold, so most of it is
        // still queued in the server when the shutdown starts.
        let size = 32 << 20
        let answered = Mutex(false)
        try await self.withGatedServer(routes: { router in
            router.get("/big") { _ in
                defer { answered.withLock { $0 = true } }
                return Response(status: .ok, headers: ["Content-Type": "application/octet-stream"], body: ByteBuffer(repeating: UInt8(ascii: "x"), count: size))
            }
        }) { server, port, _, _ in
            try await RawConnection.with(port: port) { connection in
                try await connection.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
                // Shut down once the answer is on its way (a loaded machine may take a while to get there).
                let deadline = ContinuousClock.now + .seconds(20)
                while !answered.withLock({ $0 }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                try await Task.sleep(for: .milliseconds(300))
                let shutdown = Task { await server.shutdownGracefully() }
                try await Task.sleep(for: .milliseconds(100))
                let response = try #require(try await connection.readResponse(), "the answer was cut off")
                #expect(response.status == 200)
                #expect(response.body.utf8.count == size)
                #expect(try await connection.isClosedByServer())
                await shutdown.value
            }
        }
    }

    @Test("a handler can drop the connection without an answer (through every middleware)")
    func abortConnection() async throws {
        try await self.withServer { port in
            let closed = try await RawConnection.with(port: port) { connection in
                try await connection.send("GET /vanish HTTP/1.1\r\nHost: x\r\n\r\n")
                return try await connection.isClosedByServer()
            }
            #expect(closed)
            let after = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/hello"), timeout: .seconds(30))
            #expect(after.status == .ok)
        }
    }
}
