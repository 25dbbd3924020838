import Foundation
public import Logging
public import RotorCore
public import ServiceLifecycle

/// Starts rotations that credentials' schedules make due (`schedule.every`,
/// `schedule.before_expiry`), with trigger kind `schedule`.
///
/// The store holds the only state: each credential's `next_rotation_at`, which the job's
/// creation moves on in the same transaction (``ScheduleStore/startScheduledRotation(_:dueAt:retryAt:events:)``).
/// So a restart, a crash or a second instance never starts the same due rotation twice, and a
/// rotation that was due while Rotor was down starts on the next look. Disabled credentials, and
/// credentials that are rotating or need attention, are skipped.
public actor RotationScheduler: Service {
    private let store: any ScheduleStore
    private let clock: any RotorClock
    private let configuration: SchedulerConfiguration
    private let jobStarted: @Sendable (JobID) async -> Void
    private let logger: Logger

    /// Creates the scheduler. `jobStarted` is called after each job it starts (to wake the engine).
    public init(
        store: any ScheduleStore,
        clock: any RotorClock = SystemClock(),
        configuration: SchedulerConfiguration = SchedulerConfiguration(),
        jobStarted: @escaping @Sendable (JobID) async -> Void = { _ in },
        logger: Logger
    ) {
        self.store = store
        self.clock = clock
        self.configuration = configuration
        self.jobStarted = jobStarted
        self.logger = logger
    }

    /// Looks for due rotations, then sleeps on the clock until the earliest due time or the poll
    /// interval, until graceful shutdown or cancellation.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.startDueRotations()
                try await self.clock.sleep(until: await self.nextLook())
            }
        }
    }

    /// Starts every rotation due now; returns the jobs it started.
    @discardableResult
    public func startDueRotations() async -> [JobID] {
        var started: [JobID] = []
        let now = self.clock.now()
        let due: [Credential]
        do {
            due = try await self.store.credentialsDueForRotation(at: now, limit: self.configuration.batchSize)
        } catch {
            self.logger.error("looking for scheduled rotations failed", metadata: ["error": "\(error)"])
            return []
        }
        for credential in due {
            guard let dueAt = credential.nextRotationAt else { continue }
            let rule = credential.scheduleRule(dueAt: now) ?? "schedule"
            let reason = "Scheduled (\(Self.describe(rule, credential.schedule))), due \(Self.timestamp(dueAt))."
            // Old key and targets: from the credential as the starting transaction reads it.
            let job = NewJob(credentialID: credential.id, trigger: Trigger(kind: .schedule, source: rule), reason: reason, at: now)
            do {
                let stored = try await self.store.startScheduledRotation(
                    job,
                    dueAt: dueAt,
                    retryAt: now.addingTimeInterval(self.configuration.retryInterval),
                    events: [JobEvent(at: now, type: "job.created", message: "Started by the scheduler: \(reason)")]
                )
                guard let stored else { continue }
                started.append(stored.id)
                self.logger.info("started a scheduled rotation", metadata: ["job_id": "\(stored.id)", "credential_id": "\(credential.id)", "rule": "\(rule)"])
                await self.jobStarted(stored.id)
            } catch {
                self.logger.error("starting a scheduled rotation failed", metadata: ["credential_id": "\(credential.id)", "error": "\(error)"])
            }
        }
        return started
    }

    /// The earlier of the next poll and the earliest due rotation.
    private func nextLook() async -> Date {
        let now = self.clock.now()
        let poll = now.addingTimeInterval(self.configuration.pollInterval)
        guard let earliest = try? await self.store.earliestScheduledRotation() else { return poll }
        // A due time that could not be acted on (it stays in the past) must not spin the loop.
        return min(poll, max(earliest, now.addingTimeInterval(min(1, self.configuration.pollInterval))))
    }

    private static func describe(_ rule: String, _ schedule: Schedule?) -> String {
        switch rule {
        case "every": "every \(schedule?.every?.description ?? "?")"
        case "before_expiry": "\(schedule?.beforeExpiry?.description ?? "?") before the key expires"
        default: rule
        }
    }

    private static func timestamp(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }
}
