import CoreMetrics
import NIOCore
import NIOPosix
import Synchronization

/// What one server holds at once: open connections and requests being worked on, each under a
/// cap (``HTTPServerConfiguration/maxConnections``, ``HTTPServerConfiguration/maxRequestsInFlight``).
///
/// A request over the in-flight cap waits for a slot, first come first served, for at most
/// ``HTTPServerConfiguration/admissionWait`` and with at most as many others waiting as the cap
/// itself; past either it is answered `503 unavailable` with `Retry-After`. So a short burst
/// (a thousand agents acknowledging one key at once) is served a moment later instead of being
/// refused, while a sustained overload still meets clear refusals, and what is admitted (and
/// `/healthz`, which is never counted) stays fast. A slot a request gives back goes straight to
/// the oldest waiter.
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
    let admissionWait: Duration
    private let connections = Atomic(0)
    private let admission = Mutex(Admission())
    private let parked = Atomic(0)
    private let refusedConnections: Counter
    private let refusedRequests: Counter
    private let connectionsGauge: Gauge
    private let inFlightGauge: Gauge
    private let parkedGauge: Gauge

    /// Requests being worked on, and those waiting for one of them to end.
    private struct Admission {
        var inFlight = 0
        var nextTicket = 0
        /// Oldest first.
        var waiting: [(ticket: Int, continuation: CheckedContinuation<Bool, Never>)] = []
        /// Tickets handed out and neither admitted nor given up.
        var queued = 0
        /// Tickets whose time ran out before they were waiting (a starved task between the two
        /// locks of ``beginRequest()``).
        var expired: Set<Int> = []
    }

    init(maxConnections: Int, maxInFlight: Int, admissionWait: Duration = .seconds(1), factory: any MetricsFactory = MetricsSystem.factory) {
        self.maxConnections = max(1, maxConnections)
        self.maxInFlight = max(1, maxInFlight)
        self.admissionWait = admissionWait
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

    /// What ``beginRequest()`` decided.
    enum Admitted {
        /// Counted: handle it.
        case now
        /// Every slot is taken: wait with ``waitForSlot(_:)`` for one.
        case queued(ticket: Int)
        /// Every slot is taken and too many wait already (or waiting is off): refuse it.
        case refused
    }

    /// Counts a request about to be handled if a slot is free; otherwise queues it or refuses it.
    /// Synchronous, so that the common case adds no frame to the connection's task (which lives
    /// as long as the connection, through every long wait it holds).
    func beginRequest() -> Admitted {
        let admitted = self.admission.withLock { state -> Admitted in
            if state.inFlight < self.maxInFlight {
                state.inFlight += 1
                return .now
            }
            guard state.queued < self.maxInFlight, self.admissionWait > .zero else { return .refused }
            state.queued += 1
            state.nextTicket += 1
            return .queued(ticket: state.nextTicket)
        }
        if case .refused = admitted { self.refusedRequests.increment() }
        return admitted
    }

    /// Waits for a slot for a request ``beginRequest()`` queued; false (not counted) when none
    /// came free within ``admissionWait``.
    func waitForSlot(_ ticket: Int) async -> Bool {
        let timer = MultiThreadedEventLoopGroup.singleton.next().scheduleTask(in: TimeAmount(self.admissionWait)) {
            self.giveUp(ticket)
        }
        let admitted = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let now = self.admission.withLock { state -> Bool? in
                if state.expired.remove(ticket) != nil {
                    state.queued -= 1
                    return false
                }
                // A slot may have come free between the two locks.
                if state.inFlight < self.maxInFlight {
                    state.inFlight += 1
                    state.queued -= 1
                    return true
                }
                state.waiting.append((ticket, continuation))
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
        timer.cancel()
        if !admitted { self.refusedRequests.increment() }
        return admitted
    }

    /// The wait of `ticket` is over without a slot.
    private func giveUp(_ ticket: Int) {
        let continuation = self.admission.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard let index = state.waiting.firstIndex(where: { $0.ticket == ticket }) else {
                // Not waiting yet: it gives up as it would start (or it was admitted already,
                // and the mark is never read: tickets are not reused).
                if state.nextTicket >= ticket { state.expired.insert(ticket) }
                return nil
            }
            state.queued -= 1
            return state.waiting.remove(at: index).continuation
        }
        continuation?.resume(returning: false)
    }

    /// Gives the request's slot to the oldest waiter, or back.
    func endRequest() {
        let next = self.admission.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard !state.waiting.isEmpty else {
                state.inFlight -= 1
                return nil
            }
            state.queued -= 1
            return state.waiting.removeFirst().continuation
        }
        next?.resume(returning: true)
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
    var requestsInFlight: Int { self.admission.withLock { $0.inFlight } }

    /// Requests waiting for a slot now (tests).
    var requestsWaiting: Int { self.admission.withLock { $0.queued } }
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
