public import CoreMetrics
import Foundation
import HeapModule
public import Logging
public import RotorCore
public import ServiceLifecycle

/// Runs rotation jobs: claims due jobs from the store under a concurrency limit and walks each
/// through its steps with a ``JobRunner``.
///
/// Everything durable is in the store, so the engine can stop at any instant: on graceful
/// shutdown it stops claiming, lets running steps reach their commit, and returns; a `kill -9`
/// leaves leases that lapse, and the jobs resume from their committed step.
public actor RotationEngine: Service {
    private let store: any Store & TargetDeliveryLog & AgentStore
    private let runner: JobRunner
    private let configuration: EngineConfiguration
    private let clock: any RotorClock
    private let logger: Logger
    private var running: Set<JobID> = []
    /// Jobs claimed again while their runner here was ending (see ``claim(into:)``).
    private var reclaimed: Set<JobID> = []
    private var stopping = false
    private let doorbell = Doorbell()
    /// When jobs that runners here set aside to wait (a grace period, a retry's backoff) fall
    /// due: the engine looks for work then, rather than at its next poll, which could be up to a
    /// `pollInterval` late (and would bunch together jobs due within the same interval).
    private var dueTimes = Heap<Date>()
    /// The `now` of the last claim: due times up to it have been looked for.
    private var lastClaim = Date.distantPast
    /// The due time the last wait was cut short for, and when that wait was to end. Once that
    /// moment has passed, the claim after it looked for the job, so the due time is dropped even
    /// if the engine's clock (a test's, say) has not reached it: each due time costs at most one
    /// extra claim, never a loop of them.
    private var awaitedDue: (due: Date, until: ContinuousClock.Instant)?

    /// Creates the engine. `fingerprint` names keys in job records without revealing them.
    /// Provider calls, step durations and job outcomes are recorded through `metrics` (the
    /// global `MetricsSystem.factory` unless given); providers are wrapped in a
    /// ``MeteredProvider`` here unless they already are one.
    public init(
        store: any Store & TargetDeliveryLog & AgentStore,
        providers: [ProviderKind: any Provider],
        delivery: any TargetDelivery,
        clock: any RotorClock = SystemClock(),
        configuration: EngineConfiguration = EngineConfiguration(),
        fingerprint: @escaping @Sendable (Secret) -> String,
        metrics: any MetricsFactory = MetricsSystem.factory,
        logger: Logger
    ) {
        self.store = store
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.runner = JobRunner(
            store: store,
            providers: providers.mapValues { provider in
                provider is MeteredProvider ? provider : MeteredProvider(provider, factory: metrics)
            },
            delivery: delivery,
            clock: clock,
            retry: configuration.retry,
            providerTimeout: configuration.providerTimeout,
            owner: configuration.owner,
            leaseDuration: configuration.leaseDuration,
            fingerprint: fingerprint,
            agentLiveness: configuration.agentLiveness,
            agentVerifyTimeout: configuration.agentVerifyTimeout,
            metrics: EngineMetrics(factory: metrics),
            logger: logger
        )
    }

    /// Claims and runs jobs until graceful shutdown or cancellation.
    public func run() async throws {
        // Jobs this instance leased before a restart are ours to resume now, not when the leases
        // lapse. (Claiming never takes jobs leased to anyone, this instance included, so that a
        // claim's limit is spent on new work, not on jobs already running here.)
        try await self.store.releaseLeases(owner: self.configuration.owner)
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                while !self.stopping && !Task.isCancelled {
                    await self.claim(into: &group)
                    await self.waitForWork()
                }
            }
        } onGracefulShutdown: {
            Task { await self.stop() }
        }
    }

    /// Stops claiming; running jobs stop after their current step's commit.
    public func stop() {
        self.stopping = true
        self.wake()
    }

    /// Looks for work now (the API calls this after creating or cancelling a job).
    public func wake() {
        self.doorbell.ring()
    }

    /// Whether the engine is running and not stopping, for `/readyz`.
    public var isAccepting: Bool { !self.stopping }

    private func claim(into group: inout DiscardingTaskGroup) async {
        let now = self.clock.now()
        // At capacity too: a runner that ends rings the bell, and the next claim finds them.
        self.lastClaim = now
        let capacity = self.configuration.maxConcurrentJobs - self.running.count
        guard capacity > 0 else { return }
        let ids: [JobID]
        do {
            ids = try await self.store.claimJobs(
                owner: self.configuration.owner,
                now: now,
                leaseUntil: now.addingTimeInterval(self.configuration.leaseDuration),
                limit: capacity
            )
        } catch {
            self.logger.error("claiming jobs failed", metadata: ["error": "\(error)"])
            return
        }
        for id in ids {
            guard self.running.insert(id).inserted else {
                // Its runner here released the lease and is about to end: the claim leased it
                // again, and nobody would run it until that lease lapsed. It is released and
                // claimed afresh once the runner has ended (``finished(_:)``).
                self.reclaimed.insert(id)
                continue
            }
            group.addTask(priority: .low) {
                let due = await self.runner.run(id) { await self.shouldContinue }
                await self.finished(id, due: due)
            }
        }
    }

    private var shouldContinue: Bool { !self.stopping }

    private func finished(_ id: JobID, due: Date?) async {
        self.running.remove(id)
        if let due { self.dueTimes.insert(due) }
        if self.reclaimed.remove(id) != nil {
            do {
                try await self.store.releaseLease(id, owner: self.configuration.owner)
            } catch {
                self.logger.warning("releasing a job claimed while its runner ended failed; it resumes when the lease lapses", metadata: ["job_id": "\(id)", "error": "\(error)"])
            }
        }
        self.wake()
    }

    /// Until the doorbell rings, the next due time passes, or `pollInterval` (which finds jobs
    /// that came due unannounced: set aside before a restart or by another instance).
    private func waitForWork() async {
        if self.stopping { return }
        var lookedFor = self.lastClaim
        if let awaited = self.awaitedDue, ContinuousClock.now >= awaited.until { lookedFor = max(lookedFor, awaited.due) }
        while let next = self.dueTimes.min, next <= lookedFor { self.dueTimes.removeMin() }
        self.awaitedDue = nil
        var interval = self.configuration.pollInterval
        if let next = self.dueTimes.min {
            // A millisecond past it, so that the claim's clock has reached it.
            let untilDue = max(.zero, Duration.seconds(next.timeIntervalSince(self.clock.now()))) + .milliseconds(1)
            if untilDue < interval {
                interval = untilDue
                self.awaitedDue = (next, ContinuousClock.now + untilDue)
            }
        }
        await self.doorbell.wait(upTo: interval)
    }
}
