import CoreMetrics
import Logging
import RotorCore

/// Gauges read from the store at each scrape: jobs by state (and step, while underway) and the
/// outbox backlog. Reading counts on demand, rather than tracking every transition, keeps them
/// right across restarts and across instances sharing one database.
struct StoreGauges: Sendable {
    /// `rotor_jobs{state}`: every job in the store, by state.
    static let jobsLabel = "rotor_jobs"
    /// `rotor_jobs_active{state, step}`: queued and running jobs by the step they are at.
    static let activeJobsLabel = "rotor_jobs_active"
    /// `rotor_outbox_pending_deliveries`: event deliveries not yet made or given up.
    static let pendingDeliveriesLabel = "rotor_outbox_pending_deliveries"

    private let store: any MetricsStore
    private let jobs: [JobState: Gauge]
    private let active: [JobState: [JobStep: Gauge]]
    private let pendingDeliveries: Gauge

    init(store: any MetricsStore, factory: any MetricsFactory) {
        self.store = store
        var jobs: [JobState: Gauge] = [:]
        var active: [JobState: [JobStep: Gauge]] = [:]
        for state in JobState.allCases {
            jobs[state] = Gauge(label: Self.jobsLabel, dimensions: [("state", state.rawValue)], factory: factory)
            guard !state.isTerminal else { continue }
            for step in JobStep.allCases {
                active[state, default: [:]][step] = Gauge(
                    label: Self.activeJobsLabel,
                    dimensions: [("state", state.rawValue), ("step", step.rawValue)],
                    factory: factory
                )
            }
        }
        self.jobs = jobs
        self.active = active
        self.pendingDeliveries = Gauge(label: Self.pendingDeliveriesLabel, factory: factory)
    }

    /// Sets every gauge from the store; on a store error the gauges keep their last values and
    /// the error is logged (the scrape still answers, so the HTTP metrics are not lost with it).
    func refresh(logger: Logger) async {
        do {
            let counts = try await self.store.jobCounts()
            var byState: [JobState: Int] = [:]
            var byStep: [JobState: [JobStep: Int]] = [:]
            for count in counts {
                byState[count.state, default: 0] += count.count
                if let step = count.step {
                    byStep[count.state, default: [:]][step, default: 0] += count.count
                }
            }
            for (state, gauge) in self.jobs {
                gauge.record(byState[state] ?? 0)
            }
            for (state, steps) in self.active {
                for (step, gauge) in steps {
                    gauge.record(byStep[state]?[step] ?? 0)
                }
            }
            self.pendingDeliveries.record(try await self.store.pendingDeliveryCount())
        } catch {
            logger.warning("metrics: reading counts from the store failed", metadata: ["error": "\(error)"])
        }
    }
}
