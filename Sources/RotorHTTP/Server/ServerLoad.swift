import CoreMetrics
import Synchronization

/// What one server holds at once: open connections and requests being worked on, each under a
/// cap (``HTTPServerConfiguration/maxConnections``, ``HTTPServerConfiguration/maxRequestsInFlight``).
///
/// Over a cap the server answers `503 unavailable` with `Retry-After` at once instead of queueing
/// work it cannot finish promptly: a burst meets clear refusals, and what is admitted (and
/// `/healthz`, which is never counted) stays fast. Lock-free: every request passes through here.
final class ServerLoad: Sendable {
    /// `rotor_http_refused_total{reason="connections"|"in_flight"}`.
    static let refusedLabel = "rotor_http_refused_total"
    /// `rotor_http_open_connections`.
    static let connectionsLabel = "rotor_http_open_connections"
    /// `rotor_http_requests_in_flight`.
    static let inFlightLabel = "rotor_http_requests_in_flight"
    /// `rotor_http_requests_parked`: requests waiting (long-polls) outside the in-flight count.
    static let parkedLabel = "rotor_http_requests_parked"

    let maxConnections: Int
    let maxInFlight: Int
    private let connections = Atomic(0)
    private let inFlight = Atomic(0)
    private let parked = Atomic(0)
    private let refusedConnections: Counter
    private let refusedRequests: Counter
    private let connectionsGauge: Gauge
    private let inFlightGauge: Gauge
    private let parkedGauge: Gauge

    init(maxConnections: Int, maxInFlight: Int, factory: any MetricsFactory = MetricsSystem.factory) {
        self.maxConnections = max(1, maxConnections)
        self.maxInFlight = max(1, maxInFlight)
        self.refusedConnections = Counter(label: Self.refusedLabel, dimensions: [("reason", "connections")], factory: factory)
        self.refusedRequests = Counter(label: Self.refusedLabel, dimensions: [("reason", "in_flight")], factory: factory)
        self.connectionsGauge = Gauge(label: Self.connectionsLabel, factory: factory)
        self.inFlightGauge = Gauge(label: Self.inFlightLabel, factory: factory)
        self.parkedGauge = Gauge(label: Self.parkedLabel, factory: factory)
    }

    /// Counts a new connection; false (and not counted) when the server already holds its cap.
    func openConnection() -> Bool {
        let open = self.connections.wrappingAdd(1, ordering: .relaxed).newValue
        guard open <= self.maxConnections else {
            self.connections.wrappingSubtract(1, ordering: .relaxed)
            self.refusedConnections.increment()
            return false
        }
        self.connectionsGauge.record(open)
        return true
    }

    func closeConnection() {
        self.connectionsGauge.record(self.connections.wrappingSubtract(1, ordering: .relaxed).newValue)
    }

    /// Counts a request about to be handled; false (and not counted) over the cap.
    func beginRequest() -> Bool {
        let busy = self.inFlight.wrappingAdd(1, ordering: .relaxed).newValue
        guard busy <= self.maxInFlight else {
            self.inFlight.wrappingSubtract(1, ordering: .relaxed)
            self.refusedRequests.increment()
            return false
        }
        return true
    }

    func endRequest() {
        self.inFlight.wrappingSubtract(1, ordering: .relaxed)
    }

    /// A deferred answer's completion starts (a wait outside the in-flight count; the request's
    /// handling, which counted, has ended).
    func beginWait() {
        self.parkedGauge.record(self.parked.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    /// The completion is over.
    func endWait() {
        self.parkedGauge.record(self.parked.wrappingSubtract(1, ordering: .relaxed).newValue)
    }

    /// Requests being worked on now (tests).
    var requestsInFlight: Int { self.inFlight.load(ordering: .relaxed) }
}

/// Tells a request's handler that its client has gone: the connection's input closed (the client
/// closed or half-closed its side) or the connection dropped. Long waits end early on it, so a
/// client that gave up costs nothing more. A graceful shutdown signals it too: a held wait then
/// answers what it has at once (and its connection closes), rather than holding the stop.
public final class ClientDisconnect: Sendable {
    private struct State {
        var gone = false
        var nextID = 0
        var observers: [Int: @Sendable () -> Void] = [:]
    }

    private let state = Mutex(State())

    init() {}

    /// Whether the client has gone.
    public var hasOccurred: Bool { self.state.withLock { $0.gone } }

    /// Calls `observer` once when the client goes (at once if it has); returns a token for
    /// ``removeObserver(_:)``, or nil when it was called at once.
    public func observe(_ observer: @escaping @Sendable () -> Void) -> Int? {
        let id: Int? = self.state.withLock { state in
            guard !state.gone else { return nil }
            state.nextID += 1
            state.observers[state.nextID] = observer
            return state.nextID
        }
        if id == nil { observer() }
        return id
    }

    /// Forgets an observer that is no longer needed.
    public func removeObserver(_ id: Int) {
        _ = self.state.withLock { $0.observers.removeValue(forKey: id) }
    }

    func signal() {
        let observers = self.state.withLock { state -> [@Sendable () -> Void] in
            guard !state.gone else { return [] }
            state.gone = true
            defer { state.observers.removeAll() }
            return Array(state.observers.values)
        }
        for observer in observers { observer() }
    }
}
