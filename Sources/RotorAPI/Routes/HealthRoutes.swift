import NIOCore
import NIOHTTP1
import RotorHTTP

/// One dependency `/readyz` asks: the store, the engine...
public struct ReadinessCheck: Sendable {
    /// The name shown in the `/readyz` body.
    public var name: String
    /// Whether the dependency can serve now.
    public var isReady: @Sendable () async -> Bool

    /// Creates a check.
    public init(name: String, isReady: @escaping @Sendable () async -> Bool) {
        self.name = name
        self.isReady = isReady
    }
}

/// `GET /healthz` (the process answers) and `GET /readyz` (its dependencies answer).
enum HealthRoutes {
    private struct Readiness: Encodable {
        var status: String
        var checks: [String: String]
    }

    static func register(on router: Router, checks: [ReadinessCheck]) {
        // Built once: liveness is probed often and must stay cheap.
        let healthy = Response(
            status: .ok,
            headers: ["Content-Type": "application/json", "Cache-Control": "no-store"],
            body: ByteBuffer(string: #"{"status":"ok"}"#)
        )
        router.get("/healthz") { _ in healthy }
        router.get("/readyz") { _ in
            var results: [String: String] = [:]
            for check in checks {
                results[check.name] = await check.isReady() ? "ok" : "unavailable"
            }
            let ready = results.values.allSatisfy { $0 == "ok" }
            return try Response.json(
                Readiness(status: ready ? "ready" : "unavailable", checks: results),
                status: ready ? .ok : .serviceUnavailable,
                headers: ["Cache-Control": "no-store"]
            )
        }
    }
}
