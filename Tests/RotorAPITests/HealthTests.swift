import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorAPI
import RotorHTTP
import Synchronization
import Testing

@Suite struct HealthTests {
    private func get(_ path: String, checks: [ReadinessCheck]) async throws -> Response {
        let responder = RotorApplication.buildResponder(
            configuration: APIConfiguration(authenticator: AdminTokenAuthenticator(adminToken: AuthTests.token), readinessChecks: checks)
        )
        return try await responder.respond(to: Request(method: .GET, uri: path, logger: Logger(label: "t")))
    }

    @Test("/healthz answers {\"status\":\"ok\"}")
    func healthz() async throws {
        let response = try await self.get("/healthz", checks: [])
        #expect(response.status == .ok)
        #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
        #expect(response.headers["Content-Type"] == ["application/json"])
    }

    @Test("/readyz is 200 when every check passes, 503 naming the failing one otherwise")
    func readyz() async throws {
        let storeUp = Atomic<Bool>(true)
        let checks = [
            ReadinessCheck(name: "store") { storeUp.load(ordering: .relaxed) },
            ReadinessCheck(name: "engine") { true },
        ]
        let ready = try await self.get("/readyz", checks: checks)
        #expect(ready.status == .ok)
        let readyBody = try #require(JSONSerialization.jsonObject(with: Data(String(buffer: ready.body).utf8)) as? [String: Any])
        #expect(readyBody["status"] as? String == "ready")
        #expect(readyBody["checks"] as? [String: String] == ["store": "ok", "engine": "ok"])

        storeUp.store(false, ordering: .relaxed)
        let notReady = try await self.get("/readyz", checks: checks)
        #expect(notReady.status == .serviceUnavailable)
        let body = try #require(JSONSerialization.jsonObject(with: Data(String(buffer: notReady.body).utf8)) as? [String: Any])
        #expect(body["status"] as? String == "unavailable")
        #expect(body["checks"] as? [String: String] == ["store": "unavailable", "engine": "ok"])
    }
}
