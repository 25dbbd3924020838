import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorHTTP
import Testing

@Suite struct MiddlewareTests {
    struct Boom: Error, CustomStringConvertible {
        var description: String { "database password is hunter2" }
    }

    private func responder(logs: CapturedLogs) -> RouterResponder {
        let router = Router()
        router.use(RequestIDMiddleware())
        router.use(AccessLogMiddleware(level: .info, logHeaders: true))
        router.use(ErrorMiddleware())
        router.get("/ok") { request in .text(request.id, contentType: "text/plain") }
        router.get("/boom") { _ in throw Boom() }
        return router.buildResponder()
    }

    private func send(_ responder: RouterResponder, _ uri: String, headers: HTTPHeaders = [:], logger: Logger) async throws -> Response {
        try await responder.respond(to: Request(method: .GET, uri: uri, headers: headers, logger: logger))
    }

    @Test("a sane client request id is echoed; a missing or unsafe one is replaced")
    func requestIDs() async throws {
        let logs = CapturedLogs()
        let responder = self.responder(logs: logs)
        let echoed = try await self.send(responder, "/ok", headers: ["X-Request-Id": "abc-123.x_y"], logger: logs.logger())
        #expect(echoed.headers["X-Request-Id"] == ["abc-123.x_y"])
        #expect(echoed.bodyString == "abc-123.x_y")

        for unsafe in ["has space", "new\nline", String(repeating: "a", count: 129), ""] {
            let replaced = try await self.send(responder, "/ok", headers: ["X-Request-Id": unsafe], logger: logs.logger())
            let id = try #require(replaced.headers["X-Request-Id"].first)
            #expect(id != unsafe)
            #expect(id.hasPrefix("req_"))
        }
        let first = try await self.send(responder, "/ok", logger: logs.logger()).headers["X-Request-Id"]
        let second = try await self.send(responder, "/ok", logger: logs.logger()).headers["X-Request-Id"]
        #expect(first != second)
    }

    @Test("an unexpected error answers a bare 500 that leaks nothing; the log has the cause")
    func internalErrors() async throws {
        let logs = CapturedLogs()
        let response = try await self.send(self.responder(logs: logs), "/boom", logger: logs.logger())
        #expect(response.status == .internalServerError)
        #expect(!response.bodyString.contains("hunter2"))
        #expect(response.bodyString.contains(#""code":"internal""#))
        let id = try #require(response.headers["X-Request-Id"].first)
        #expect(response.bodyString.contains(id))
        #expect(logs.all.contains { $0.contains("unhandled error") && $0.contains(id) })
    }

    @Test("the access log has one line per request with status and route, and never the Authorization value")
    func accessLogRedacts() async throws {
        let logs = CapturedLogs()
        let secret = "rtr_supersecretvalue_0123456789"
        let headers: HTTPHeaders = [
            "Authorization": "Bearer \(secret)",
            "webhook-signature": "v1,\(secret)",
            "X-Hub-Signature-256": "sha256=\(secret)",
            "User-Agent": "tests",
        ]
        _ = try await self.send(self.responder(logs: logs), "/ok?token=\(secret)", headers: headers, logger: logs.logger())
        _ = try await self.send(self.responder(logs: logs), "/missing", headers: headers, logger: logs.logger())
        let lines = logs.all
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { !$0.contains(secret) })
        #expect(lines[0].contains("http.status=200") && lines[0].contains("http.path=/ok"))
        #expect(lines[1].contains("http.status=404"))
        #expect(lines[0].contains("Authorization: [REDACTED]"))
        #expect(lines[0].contains("User-Agent: tests"))
    }

    @Test("the access log stays quiet below its level")
    func accessLogLevel() async throws {
        let logs = CapturedLogs()
        _ = try await self.send(self.responder(logs: logs), "/ok", logger: logs.logger(level: .warning))
        #expect(logs.all.isEmpty)
    }
}
