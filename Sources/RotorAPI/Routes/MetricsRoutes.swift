import NIOCore
import NIOHTTP1
import Prometheus
import RotorHTTP

/// `GET /metrics`: Prometheus text exposition of every metric in the registry.
///
/// Unauthenticated, like `/healthz`, so a scraper needs no Rotor token: it shows counts,
/// durations and route templates, never ids, secrets or request contents. Operators who do not
/// want it public keep it behind the proxy or firewall that fronts the listener (README).
enum MetricsRoutes {
    static func register(on router: Router, registry: PrometheusCollectorRegistry, gauges: StoreGauges?) {
        router.get("/metrics") { request in
            await gauges?.refresh(logger: request.logger)
            return Response(
                status: .ok,
                headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8", "Cache-Control": "no-store"],
                body: ByteBuffer(bytes: registry.emitToBuffer())
            )
        }
    }
}
