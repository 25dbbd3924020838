import Foundation
import Logging
import NIOHTTP1
import Prometheus
import RotorHTTP
import Synchronization
import Testing

/// ``HTTPMetrics`` on a ``Router``, with a registry of the test's own (no global bootstrap).
@Suite struct HTTPMetricsTests {
    /// Answers 401 unless `Authorization` is present, like the API's bearer middleware.
    private struct RequireAuthorization: Middleware {
        func respond(to request: Request, next: Responder) async throws -> Response {
            guard request.headers.first(name: "Authorization") != nil else { throw HTTPError.unauthorized("no token") }
            return try await next(request)
        }
    }

    private struct Boom: Error {}

    private func makeResponder(_ registry: PrometheusCollectorRegistry) -> RouterResponder {
        let router = Router()
        router.use(ErrorMiddleware())
        router.instrument(with: HTTPMetrics(factory: PrometheusMetricsFactory(registry: registry)))
        router.get("/items/{id}") { request in
            guard request.parameters["id"] != "missing" else { throw HTTPError.notFound() }
            return .text("item", contentType: "text/plain")
        }
        router.post("/items") { _ in Response(status: .created) }
        router.get("/boom") { _ in throw Boom() }
        let secured = router.group("/secured", middleware: RequireAuthorization())
        secured.get("/{id}") { _ in .text("ok", contentType: "text/plain") }
        return router.buildResponder()
    }

    static func value(_ scrape: String, _ series: String) -> Double? {
        for line in scrape.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    static func requests(_ method: String, _ route: String, _ status: Int) -> String {
        #"rotor_http_requests_total{method="\#(method)",route="\#(route)",status="\#(status)"}"#
    }

    @Test("counts and latencies are labelled by the route template and the final status, errors included")
    func labelsByTemplate() async throws {
        let registry = PrometheusCollectorRegistry()
        let responder = self.makeResponder(registry)
        #expect(try await call(responder, .GET, "/items/1").status == .ok)
        #expect(try await call(responder, .GET, "/items/2").status == .ok)
        #expect(try await call(responder, .HEAD, "/items/3").status == .ok)
        #expect(try await call(responder, .GET, "/items/missing").status == .notFound)
        #expect(try await call(responder, .POST, "/items").status == .created)
        #expect(try await call(responder, .GET, "/boom").status == .internalServerError)
        #expect(try await call(responder, .GET, "/secured/7").status == .unauthorized)
        #expect(try await call(responder, .GET, "/secured/7", headers: ["Authorization": "Bearer x"]).status == .ok)
        #expect(try await call(responder, .GET, "/nowhere/42").status == .notFound)
        #expect(try await call(responder, .DELETE, "/items/1").status == .methodNotAllowed)

        let scrape = registry.emitToString()
        #expect(Self.value(scrape, Self.requests("GET", "/items/{id}", 200)) == 3)  // HEAD is served by GET
        #expect(Self.value(scrape, Self.requests("GET", "/items/{id}", 404)) == 1)
        #expect(Self.value(scrape, Self.requests("POST", "/items", 201)) == 1)
        #expect(Self.value(scrape, Self.requests("GET", "/boom", 500)) == 1)
        #expect(Self.value(scrape, Self.requests("GET", "/secured/{id}", 401)) == 1)
        #expect(Self.value(scrape, Self.requests("GET", "/secured/{id}", 200)) == 1)
        #expect(Self.value(scrape, Self.requests("unmatched", "unmatched", 404)) == 1)
        #expect(Self.value(scrape, Self.requests("unmatched", "unmatched", 405)) == 1)
        // A status a route never answered has no series.
        #expect(Self.value(scrape, Self.requests("POST", "/items", 200)) == nil)
        #expect(!scrape.contains("/items/1") && !scrape.contains("/nowhere"))

        let histogram = #"rotor_http_request_duration_seconds"#
        let labels = #"method="GET",route="/items/{id}",status="200""#
        #expect(Self.value(scrape, "\(histogram)_count{\(labels)}") == 3)
        #expect(Self.value(scrape, "\(histogram)_bucket{\(labels),le=\"+Inf\"}") == 3)
        #expect(Self.value(scrape, "\(histogram)_sum{\(labels)}").map { $0 >= 0 && $0 < 5 } == true)
        #expect(scrape.contains("# TYPE \(histogram) histogram"))
    }

    @Test("a router without instrumentation answers exactly as before")
    func uninstrumented() async throws {
        let router = Router()
        router.get("/x/{id}") { _ in .text("x", contentType: "text/plain") }
        let responder = router.buildResponder()
        #expect(try await call(responder, .GET, "/x/1").status == .ok)
        #expect(try await call(responder, .GET, "/y").status == .notFound)
        let wrongMethod = try await call(responder, .POST, "/x/1")
        #expect(wrongMethod.status == .methodNotAllowed)
        #expect(wrongMethod.headers.first(name: "Allow") == "GET, HEAD")
    }

    @Test("the instrumentation is asked once per route when the router is frozen, not per request")
    func handlesMadeAtFreeze() async throws {
        final class Recording: RouteInstrumentation {
            let routes = Mutex<[RouteDescriptor]>([])
            func middleware(for route: RouteDescriptor) -> any Middleware {
                self.routes.withLock { $0.append(route) }
                return Passthrough()
            }
        }
        struct Passthrough: Middleware {
            func respond(to request: Request, next: Responder) async throws -> Response { try await next(request) }
        }
        let recording = Recording()
        let router = Router()
        router.instrument(with: recording)
        router.get("/a/{id}") { _ in .text("a", contentType: "text/plain") }
        router.post("/a") { _ in .text("a", contentType: "text/plain") }
        let responder = router.buildResponder()
        let described = Set(recording.routes.withLock { $0 })
        #expect(described == [RouteDescriptor(method: "GET", template: "/a/{id}"), RouteDescriptor(method: "POST", template: "/a"), .unmatched])
        for _ in 0..<5 { _ = try await call(responder, .GET, "/a/1") }
        #expect(recording.routes.withLock { $0.count } == 3)
    }
}
