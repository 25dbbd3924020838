import Foundation
import Logging
import NIOHTTP1
import RotorHTTP
import Testing

@Suite struct RouterTests {
    private func makeResponder() -> RouterResponder {
        let router = Router()
        router.get("/v1/credentials") { _ in .text("list", contentType: "text/plain") }
        router.post("/v1/credentials") { _ in .text("create", contentType: "text/plain") }
        router.get("/v1/credentials/{id}") { request in
            .text("get \(request.parameters["id"] ?? "?")", contentType: "text/plain")
        }
        router.delete("/v1/credentials/{id}") { request in
            .text("delete \(request.parameters["id"] ?? "?")", contentType: "text/plain")
        }
        router.get("/v1/credentials/{id}/secret") { request in
            .text("secret \(request.parameters["id"] ?? "?")", contentType: "text/plain")
        }
        router.get("/v1/jobs/{id}/events") { request in .text("events \(request.parameters["id"] ?? "?")", contentType: "text/plain") }
        router.get("/v1/jobs/stats") { _ in .text("stats", contentType: "text/plain") }
        router.get("/a/b/c") { _ in .text("literal", contentType: "text/plain") }
        router.get("/a/{x}/d") { request in .text("captured \(request.parameters["x"] ?? "?")", contentType: "text/plain") }
        router.get("/") { _ in .text("root", contentType: "text/plain") }
        return router.buildResponder()
    }

    @Test("captures are percent-decoded into parameters")
    func captures() async throws {
        let responder = self.makeResponder()
        #expect(try await call(responder, .GET, "/v1/credentials/cred_123").bodyString == "get cred_123")
        #expect(try await call(responder, .GET, "/v1/credentials/cred_123/secret").bodyString == "secret cred_123")
        #expect(try await call(responder, .DELETE, "/v1/credentials/x").bodyString == "delete x")
        #expect(try await call(responder, .GET, "/v1/jobs/job_9/events").bodyString == "events job_9")
    }

    @Test("a literal segment wins over a capture at the same position")
    func literalPrecedence() async throws {
        let responder = self.makeResponder()
        #expect(try await call(responder, .GET, "/v1/jobs/stats").bodyString == "stats")
        #expect(try await call(responder, .GET, "/a/b/c").bodyString == "literal")
    }

    @Test("when the literal branch dead-ends, the capture branch is tried")
    func backtracksToCapture() async throws {
        let responder = self.makeResponder()
        #expect(try await call(responder, .GET, "/a/b/d").bodyString == "captured b")
        #expect(try await call(responder, .GET, "/a/zz/d").bodyString == "captured zz")
    }

    @Test("an unknown path is 404 not_found problem+json")
    func notFound() async throws {
        let responder = self.makeResponder()
        for path in ["/nope", "/v1/credentials/x/y/z", "/a/b", "/v1/jobs/stats/more"] {
            let response = try await call(responder, .GET, path)
            #expect(response.status == .notFound, "\(path)")
            #expect(response.headers["Content-Type"] == ["application/problem+json"])
            let problem = try JSONSerialization.jsonObject(with: Data(response.bodyString.utf8)) as? [String: Any]
            #expect(problem?["code"] as? String == "not_found")
        }
    }

    @Test("a known path with another method is 405 with Allow, HEAD implied by GET")
    func methodNotAllowed() async throws {
        let responder = self.makeResponder()
        let response = try await call(responder, .PUT, "/v1/credentials/abc")
        #expect(response.status == .methodNotAllowed)
        #expect(response.headers["Allow"] == ["DELETE, GET, HEAD"])
        let collection = try await call(responder, .PATCH, "/v1/credentials")
        #expect(collection.headers["Allow"] == ["GET, HEAD, POST"])
        let problem = try JSONSerialization.jsonObject(with: Data(collection.bodyString.utf8)) as? [String: Any]
        #expect(problem?["code"] as? String == "method_not_allowed")
        #expect(problem?["status"] as? Int == 405)
    }

    @Test("HEAD is answered by the GET route")
    func headUsesGet() async throws {
        let response = try await call(self.makeResponder(), .HEAD, "/v1/credentials")
        #expect(response.status == .ok)
        #expect(response.bodyString == "list")  // the server drops the body on the wire
    }

    @Test("trailing and repeated slashes do not change the route", arguments: ["/v1/credentials/", "//v1//credentials", "/v1/credentials//"])
    func slashes(path: String) async throws {
        #expect(try await call(self.makeResponder(), .GET, path).bodyString == "list")
    }

    @Test("the root path routes")
    func root() async throws {
        #expect(try await call(self.makeResponder(), .GET, "/").bodyString == "root")
        #expect(try await call(self.makeResponder(), .GET, "").bodyString == "root")
    }

    @Test("percent-encoded segments decode after splitting, so %2F stays inside its segment")
    func percentEncoding() async throws {
        let responder = self.makeResponder()
        #expect(try await call(responder, .GET, "/v1/credentials/a%20b").bodyString == "get a b")
        #expect(try await call(responder, .GET, "/v1/credentials/a%2Fb").bodyString == "get a/b")
        #expect(try await call(responder, .GET, "/v1/credentials/%E2%9C%93").bodyString == "get ✓")
        #expect(try await call(responder, .GET, "/v1/%63redentials").bodyString == "list")
        // '+' is literal in a path, a space only in the query.
        #expect(try await call(responder, .GET, "/v1/credentials/a+b").bodyString == "get a+b")
    }

    @Test("a malformed percent-encoding is a 400 problem", arguments: ["/v1/credentials/%ZZ", "/v1/credentials/%4", "/v1/credentials/%FF", "/x?q=%G1"])
    func malformedPercentEncoding(uri: String) async throws {
        let response = try await call(self.makeResponder(), .GET, uri)
        #expect(response.status == .badRequest)
        #expect(response.bodyString.contains(#""code":"bad_request""#))
    }

    @Test("the query string is parsed and does not affect routing")
    func query() async throws {
        let router = Router()
        router.get("/q") { request in
            .text("\(request.query["a"] ?? "-")|\(request.query.all("b").joined(separator: ","))|\(request.query["c"] ?? "-")", contentType: "text/plain")
        }
        let response = try await call(router.buildResponder(), .GET, "/q?a=x+y&b=1&b=%32&c")
        #expect(response.bodyString == "x y|1,2|")
    }

    @Test("route templates are reported for logs and metrics")
    func templates() throws {
        let responder = self.makeResponder()
        let request = try Request(method: .GET, uri: "/v1/credentials/cred_1/secret", logger: .init(label: "t"))
        #expect(responder.template(for: request) == "/v1/credentials/{id}/secret")
        let missing = try Request(method: .GET, uri: "/missing", logger: .init(label: "t"))
        #expect(responder.template(for: missing) == nil)
    }

    @Test("group middleware runs only for the group's routes, outer groups first")
    func groupMiddleware() async throws {
        struct Tag: Middleware {
            let name: String
            func respond(to request: Request, next: Responder) async throws -> Response {
                var response = try await next(request)
                response.headers.add(name: "X-Trace", value: self.name)
                return response
            }
        }
        let router = Router()
        router.get("/open") { _ in .text("open", contentType: "text/plain") }
        let outer = router.group("/v1", middleware: Tag(name: "outer"))
        outer.get("/x") { _ in .text("x", contentType: "text/plain") }
        let inner = outer.group("/admin", middleware: Tag(name: "inner"))
        inner.get("/y") { _ in .text("y", contentType: "text/plain") }
        let responder = router.buildResponder()

        #expect(try await call(responder, .GET, "/open").headers["X-Trace"] == [])
        #expect(try await call(responder, .GET, "/v1/x").headers["X-Trace"] == ["outer"])
        // The inner middleware is closer to the handler, so it tags the response first.
        #expect(try await call(responder, .GET, "/v1/admin/y").headers["X-Trace"] == ["inner", "outer"])
    }

    @Test("global middleware also sees requests that end in 404 and 405")
    func globalMiddlewareSeesErrors() async throws {
        let router = Router()
        router.use(RequestIDMiddleware())
        router.get("/x") { _ in .text("x", contentType: "text/plain") }
        let responder = router.buildResponder()
        let notFound = try await call(responder, .GET, "/missing")
        #expect(notFound.status == .notFound)
        #expect(notFound.headers["X-Request-Id"].count == 1)
        let notAllowed = try await call(responder, .POST, "/x")
        #expect(notAllowed.status == .methodNotAllowed)
        #expect(notAllowed.headers["X-Request-Id"].count == 1)
    }
}
