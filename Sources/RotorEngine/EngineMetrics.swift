import CoreMetrics
import RotorCore

/// The engine's own metrics: how long step attempts take and how jobs end. Handles are made once,
/// for every step and terminal state, so recording is an array lookup and an atomic update.
struct EngineMetrics: Sendable {
    /// `rotor_job_step_duration_seconds{step}`: one attempt at a step, provider and target calls
    /// included (not the `grace` wait, which is no work).
    static let stepDurationLabel = "rotor_job_step_duration_seconds"
    /// `rotor_jobs_finished_total{state}`: jobs that reached a terminal state here.
    static let jobsFinishedLabel = "rotor_jobs_finished_total"

    private let stepDurations: [JobStep: Timer]
    private let finished: [JobState: Counter]

    init(factory: any MetricsFactory) {
        var stepDurations: [JobStep: Timer] = [:]
        for step in JobStep.allCases where step != .grace {
            stepDurations[step] = Timer(label: Self.stepDurationLabel, dimensions: [("step", step.rawValue)], factory: factory)
        }
        self.stepDurations = stepDurations
        var finished: [JobState: Counter] = [:]
        for state in JobState.allCases where state.isTerminal {
            finished[state] = Counter(label: Self.jobsFinishedLabel, dimensions: [("state", state.rawValue)], factory: factory)
        }
        self.finished = finished
    }

    func recordAttempt(_ step: JobStep, duration: Duration) {
        let nanoseconds = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        self.stepDurations[step]?.recordNanoseconds(nanoseconds)
    }

    func recordFinished(_ state: JobState) {
        self.finished[state]?.increment()
    }
}
