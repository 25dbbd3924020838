import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorHTTP
import Synchronization
import Testing

/// Issue 11: over its caps the server answers 503 with `Retry-After` at once (never a hang),
/// `/healthz` is always answered, a parked request does not count, and a handler learns when
/// its client goes away.
@Suite(.timeLimit(.minutes(1))) struct ServerLoadTests {
    /// A handler that holds its request until the gate opens.
    final class Gate: Sendable {
        let entered = Atomic(0)
        let open = Atomic(false)
        let sawDisconnect = Atomic(false)
    }

    private static func router(_ gate: Gate) -> RouterResponder {
        let router = Router()
        router.use(RequestIDMiddleware())
        router.use(ErrorMiddleware())
        router.get("/healthz") { _ in .text("ok", contentType: "text/plain") }
        router.get("/hold") { _ in
            gate.entered.wrappingAdd(1, ordering: .relaxed)
            while !gate.open.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(5)) }
            return .text("held", contentType: "text/plain")
        }
        // A deferred answer: its wait runs after the handler has returned, outside the in-flight count.
        router.get("/defer") { request in
            let fail = request.query["fail"] != nil
            return .deferred {
                gate.entered.wrappingAdd(1, ordering: .relaxed)
                while !gate.open.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(5)) }
                if fail { throw HTTPError(.conflict, code: "conflict", detail: "The completion failed.") }
                return .text("deferred", contentType: "text/plain")
            }
        }
        router.get("/until-gone") { request in
            gate.entered.wrappingAdd(1, ordering: .relaxed)
            let gone = AsyncStream<Void>.makeStream()
            _ = request.clientDisconnect?.observe { gone.continuation.finish() }
            for await _ in gone.stream {}
            gate.sawDisconnect.store(true, ordering: .relaxed)
            return .text("gone", contentType: "text/plain")
        }
        return router.buildResponder()
    }

    /// One `GET /hold` on a connection of its own; its answer.
    private func hold(_ port: Int) async throws -> RawResponse? {
        try await RawConnection.with(port: port) { connection in
            try await connection.send("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
            return try await connection.readResponse()
        }
    }

    private func withServer(_ configuration: HTTPServerConfiguration, _ gate: Gate, _ body: @Sendable (Int) async throws -> Void) async throws {
        try await HTTPServer.withRunningServer(configuration: configuration, responder: Self.router(gate), logger: Logger(label: "test")) { address in
            try await body(try #require(address.port))
            gate.open.store(true, ordering: .relaxed)
        }
    }

    private func until(_ condition: @Sendable () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test("over the in-flight cap with no admission wait: 503 unavailable with Retry-After at once; /healthz and parked requests are not counted")
    func inFlightCap() async throws {
        let gate = Gate()
        let configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, maxRequestsInFlight: 2, admissionWait: .zero)
        try await self.withServer(configuration, gate) { port in
            // Deferred answers (long-polls) first: they must not use up the cap.
            let parked = (0..<5).map { _ in
                Task { try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/defer"), timeout: .seconds(30)).status }
            }
            try await self.until { gate.entered.load(ordering: .relaxed) == 5 }
            let held = (0..<2).map { _ in
                Task { try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/hold"), timeout: .seconds(30)).status }
            }
            try await self.until { gate.entered.load(ordering: .relaxed) == 7 }

            let start = ContinuousClock.now
            let refused = try await self.hold(port)
            #expect(refused?.status == 503)
            #expect(refused?.header("Retry-After") == "1")
            #expect(refused?.body.contains(#""code":"unavailable""#) == true)
            // Answered while both held requests still hold their slots (they wait for the gate).
            #expect(ContinuousClock.now - start < .seconds(10))
            let health = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz"), timeout: .seconds(30))
            #expect(health.status == .ok)

            gate.open.store(true, ordering: .relaxed)
            for task in held + parked { #expect(try await task.value == .ok) }
            // Room again once they are answered.
            let after = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/hold"), timeout: .seconds(30))
            #expect(after.status == .ok)
        }
    }

    @Test("over the in-flight cap, a request waits for a slot and is served when one ends; past the admission wait, or with the queue full, 503")
    func admissionQueue() async throws {
        let gate = Gate()
        let configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, maxRequestsInFlight: 2, admissionWait: .seconds(30))
        try await self.withServer(configuration, gate) { port in
            func get(_ path: String, timeout: Int64 = 60) -> Task<HTTPResponseStatus, any Error> {
                Task { try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(timeout)).status }
            }
            let held = (0..<2).map { _ in get("/hold") }
            try await self.until { gate.entered.load(ordering: .relaxed) == 2 }
            // Two more wait for a slot (the queue holds as many as the cap)...
            let queued = (0..<2).map { _ in get("/hold") }
            try await Task.sleep(for: .milliseconds(300))
            #expect(gate.entered.load(ordering: .relaxed) == 2, "a request over the cap ran")
            // ...and a fifth, with the queue full, is refused at once.
            let start = ContinuousClock.now
            let refused = try await self.hold(port)
            #expect(refused?.status == 503)
            #expect(refused?.header("Retry-After") == "1")
            #expect(ContinuousClock.now - start < .seconds(10))
            // The slots come free: the waiting requests are served, none refused.
            gate.open.store(true, ordering: .relaxed)
            for task in held + queued { #expect(try await task.value == .ok) }
        }
    }

    @Test("a request over the in-flight cap gets 503 once its admission wait is over")
    func admissionWaitRunsOut() async throws {
        let gate = Gate()
        let configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, maxRequestsInFlight: 1, admissionWait: .milliseconds(300))
        try await self.withServer(configuration, gate) { port in
            let held = Task { try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/hold"), timeout: .seconds(60)).status }
            try await self.until { gate.entered.load(ordering: .relaxed) == 1 }
            let start = ContinuousClock.now
            let refused = try await self.hold(port)
            #expect(refused?.status == 503)
            #expect(ContinuousClock.now - start >= .milliseconds(250), "refused before its wait was over")
            #expect(gate.entered.load(ordering: .relaxed) == 1)
            gate.open.store(true, ordering: .relaxed)
            #expect(try await held.value == .ok)
        }
    }

    @Test("a deferred answer is completed by the server with every middleware's work: its request id, and its error as a problem; in process too")
    func deferredAnswer() async throws {
        let gate = Gate()
        gate.open.store(true, ordering: .relaxed)
        try await self.withServer(HTTPServerConfiguration(host: "127.0.0.1", port: 0), gate) { port in
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/defer")
            request.headers.add(name: "X-Request-Id", value: "req-deferred-1")
            let done = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            #expect(done.status == .ok)
            #expect(done.headers.first(name: "X-Request-Id") == "req-deferred-1")
            #expect(String(buffer: try await done.body.collect(upTo: 1024)) == "deferred")

            let failed = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/defer?fail=1"), timeout: .seconds(10))
            #expect(failed.status == .conflict)
            #expect(failed.headers.first(name: "Content-Type") == "application/problem+json")
            #expect(failed.headers.first(name: "X-Request-Id") != nil)
        }
        // In process, `respond(to:)` waits for the completion.
        let inProcess = try await Self.router(gate).respond(to: Request(method: .GET, uri: "/defer", logger: Logger(label: "t")))
        #expect(inProcess.completion == nil)
        #expect(String(buffer: inProcess.body) == "deferred")
    }

    @Test("over the connection cap: the new connection's request is answered 503 with Retry-After, then it closes")
    func connectionCap() async throws {
        let gate = Gate()
        let configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, maxConnections: 2)
        try await self.withServer(configuration, gate) { port in
            try await RawConnection.with(port: port) { first in
                try await RawConnection.with(port: port) { second in
                    try await first.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    #expect(try await first.readResponse()?.status == 200)
                    try await second.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    #expect(try await second.readResponse()?.status == 200)
                    try await RawConnection.with(port: port) { third in
                        try await third.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                        let answer = try await third.readResponse()
                        #expect(answer?.status == 503)
                        #expect(answer?.header("Retry-After") == "1")
                        #expect(answer?.header("Connection") == "close")
                        #expect(try await third.isClosedByServer())
                    }
                }
            }
            // The two closed: a new connection is served.
            var served = false
            for _ in 0..<100 where !served {
                let status = try await RawConnection.with(port: port) { connection in
                    try await connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    return try await connection.readResponse()?.status
                }
                served = status == 200
                if !served { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(served)
        }
    }

    @Test("a handler learns when its client closes the connection")
    func clientDisconnect() async throws {
        let gate = Gate()
        try await self.withServer(HTTPServerConfiguration(host: "127.0.0.1", port: 0), gate) { port in
            try await RawConnection.with(port: port) { connection in
                try await connection.send("GET /until-gone HTTP/1.1\r\nHost: x\r\n\r\n")
                try await self.until { gate.entered.load(ordering: .relaxed) == 1 }
                let sawItEarly = gate.sawDisconnect.load(ordering: .relaxed)
                #expect(!sawItEarly)
            }
            try await self.until { gate.sawDisconnect.load(ordering: .relaxed) }
        }
    }
}
