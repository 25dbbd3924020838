public import CoreMetrics
import NIOHTTP1
import Synchronization

/// Request counts and latencies per route template, method and status, through swift-metrics.
///
/// Install with ``Router/instrument(with:)``. Each route's handles are looked up once, when the
/// router is frozen; per request there is one small lock around a status-keyed table (a route
/// answers with few distinct statuses, so it stops growing after the first requests), one
/// atomic increment and one histogram update. Labels are route templates, never raw paths, so
/// ids cannot multiply the series.
public struct HTTPMetrics: RouteInstrumentation {
    /// `rotor_http_requests_total{method, route, status}`.
    public static let requestsLabel = "rotor_http_requests_total"
    /// `rotor_http_request_duration_seconds{method, route, status}`: a histogram.
    public static let durationLabel = "rotor_http_request_duration_seconds"

    private let factory: any MetricsFactory

    /// Records through `factory` (the global `MetricsSystem.factory` unless given).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
    }

    public func middleware(for route: RouteDescriptor) -> any Middleware {
        RouteMetricsMiddleware(route: route, factory: self.factory)
    }
}

/// One route's metrics. A class so that every request of the route shares the status table;
/// series appear with a route's first answer of each status, so unused ones are not exported.
private final class RouteMetricsMiddleware: Middleware {
    struct Handles: Sendable {
        let requests: Counter
        let duration: Timer
    }

    private let route: RouteDescriptor
    private let factory: any MetricsFactory
    private let byStatus = Mutex<[UInt: Handles]>([:])

    init(route: RouteDescriptor, factory: any MetricsFactory) {
        self.route = route
        self.factory = factory
    }

    func respond(to request: Request, next: Responder) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request)
        } catch {
            self.record(.answering(error), since: start)
            throw error
        }
        guard response.completion == nil else {
            return response.finishing { result in
                self.record(result.status, since: start)
                return result
            }
        }
        self.record(response.status, since: start)
        return response
    }

    private func record(_ status: HTTPResponseStatus, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let handles = self.handles(for: status)
        handles.requests.increment()
        handles.duration.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }

    private func handles(for status: HTTPResponseStatus) -> Handles {
        let code = status.code
        if let existing = self.byStatus.withLock({ $0[code] }) {
            return existing
        }
        // Made outside the lock: the factory takes its own. Two racing first requests may both
        // make handles; factories hand out the same series for the same labels, so either wins.
        let dimensions = [("method", self.route.method), ("route", self.route.template), ("status", String(code))]
        let made = Handles(
            requests: Counter(label: HTTPMetrics.requestsLabel, dimensions: dimensions, factory: self.factory),
            duration: Timer(label: HTTPMetrics.durationLabel, dimensions: dimensions, factory: self.factory)
        )
        return self.byStatus.withLock { table in
            if let existing = table[code] { return existing }
            table[code] = made
            return made
        }
    }
}
