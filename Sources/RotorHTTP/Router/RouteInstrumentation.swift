public import NIOHTTP1

/// A route as registered: what per-route middleware (metrics, above all) labels a request with.
public struct RouteDescriptor: Sendable, Hashable {
    /// The template for requests that resolve to no route (answered 404 or 405). A fixed label,
    /// so that probes of random paths cannot grow the number of metric series.
    public static let unmatchedTemplate = "unmatched"

    /// The registered method (`GET` also for the `HEAD` requests it answers).
    public var method: String
    /// The path template, e.g. `/v1/jobs/{id}`: never the raw path, so ids stay out of labels.
    public var template: String

    /// Creates a descriptor.
    public init(method: String, template: String) {
        self.method = method
        self.template = template
    }

    /// What requests that resolve to no route are labelled with.
    public static let unmatched = RouteDescriptor(method: "unmatched", template: Self.unmatchedTemplate)
}

/// Wraps every route in middleware that knows which route it serves.
///
/// Asked once per route when the router is frozen (and once for ``RouteDescriptor/unmatched``),
/// so anything per-route (metric handles, for one) is created at start-up, not per request. The
/// middleware it returns runs after the router's own middleware and outside the route group's.
public protocol RouteInstrumentation: Sendable {
    /// The middleware for requests that resolve to `route`.
    func middleware(for route: RouteDescriptor) -> any Middleware
}

extension Result<Response, any Error> {
    /// The status this result is answered with.
    var status: HTTPResponseStatus {
        switch self {
        case .success(let response): response.status
        case .failure(let error): .answering(error)
        }
    }
}

extension HTTPResponseStatus {
    /// The status a thrown error ends as, as ``ErrorMiddleware`` answers it.
    static func answering(_ error: any Error) -> HTTPResponseStatus {
        switch error {
        case let error as any HTTPResponseError: error.status
        case is CancellationError: .serviceUnavailable
        default: .internalServerError
        }
    }
}
