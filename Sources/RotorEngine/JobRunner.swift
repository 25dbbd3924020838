import Foundation
import Logging
import RotorCore

/// Walks one job through its steps (DESIGN.md §2), one committed step at a time.
///
/// Each attempt first commits its intent (rule 1), then calls the provider or targets, then
/// commits the outcome together with the step transition. Whatever happens in between, the
/// store holds a state the next attempt (here, after a restart, or on another instance) can
/// resume from.
struct JobRunner: Sendable {
    let store: any Store & TargetDeliveryLog & AgentStore
    let providers: [ProviderKind: any Provider]
    let delivery: any TargetDelivery
    let clock: any RotorClock
    let retry: RetryPolicy
    let providerTimeout: Duration
    let owner: String
    let leaseDuration: TimeInterval
    let fingerprint: @Sendable (Secret) -> String
    /// How recently an agent instance must have been heard from to count as live.
    let agentLiveness: TimeInterval
    /// How long `verify` waits for agent acknowledgements when the target does not say.
    let agentVerifyTimeout: TimeInterval
    let metrics: EngineMetrics
    let logger: Logger

    /// What one attempt at a step came to.
    enum Outcome {
        /// The step's work is done; commit `commit` (its job has the transition applied).
        case done(RotationCommit)
        /// Try again later; `job` carries any progress (targets) to keep.
        case transient(String, retryAfter: Duration?)
        /// The step cannot succeed.
        case permanent(JobError)
    }

    /// Works on the job until it ends, has to wait, is no longer ours, or `shouldContinue` says stop.
    /// Returns when the job falls due again if it released the job to wait (a grace period, a
    /// retry's backoff), so that the engine looks for it then.
    ///
    /// Call it right after claiming the job: the claim's lease is taken as fresh.
    @discardableResult
    func run(_ id: JobID, shouldContinue: @escaping @Sendable () async -> Bool) async -> Date? {
        var logger = self.logger
        logger[metadataKey: "job_id"] = "\(id)"
        do {
            // The engine claimed the job a moment ago, which leased it for a whole `leaseDuration`.
            // Renewing once a third of it has passed keeps at least two thirds ahead of every
            // step, longer than a provider call's timeout, without a write per step; a lease lost
            // in between is still caught, by the lease guard on every commit.
            var leaseRenewedAt = self.clock.now()
            // Whether this runner has already committed the intent for the job's current step
            // (folded into the previous step's commit). A resumed job always records it anew.
            var begun = false
            // The job as this runner last committed it (the store skips decoding it while it is current).
            var known: Job?
            while await shouldContinue() {
                let now = self.clock.now()
                if now.timeIntervalSince(leaseRenewedAt) >= self.leaseDuration / 3 {
                    guard try await self.store.renewLease(id, owner: self.owner, until: now.addingTimeInterval(self.leaseDuration)) else {
                        return nil
                    }
                    leaseRenewedAt = now
                }
                var rotation = try await self.store.rotation(id, knownJob: known)
                if rotation.job.state.isTerminal { return nil }
                if let due = rotation.job.nextAttemptAt, due > now {
                    try await self.store.releaseLease(id, owner: self.owner)
                    return due
                }
                if !begun, let settled = Self.interruptedCreateSettles(rotation.job, after: self.providerTimeout), settled > now {
                    // A create cut off without an answer (a crash, a lost lease, a cancel) may
                    // still land at the provider: the orphan check, in create or in the
                    // rollback, must not run before it could have.
                    logger.info("waiting out an interrupted create before looking for its orphan", metadata: ["until": "\(settled)", "step": "\(rotation.job.step.rawValue)"])
                    guard await self.pause(for: .seconds(settled.timeIntervalSince(now)), job: id, shouldContinue: shouldContinue) else { break }
                    continue
                }
                let attempted = rotation.job
                do {
                    try await self.advance(&rotation, begun: &begun, logger: logger, shouldContinue: shouldContinue)
                    known = rotation.job
                } catch let error as StoreError where error.code == .conflict && attempted.step == .verify {
                    // An agent's acknowledgement moved the job while `verify` judged it: judge
                    // again from the store, in the attempt already recorded (verify changes
                    // nothing at the provider, so it needs no new intent), unless something
                    // else moved the step (a cancel). A thousand acknowledgements then cost no
                    // attempts and write no events.
                    let stored = try await self.store.rotation(id).job
                    begun = stored.state == .running && stored.step == .verify && stored.attempt > 0
                    known = nil
                }
            }
            try await self.store.releaseLease(id, owner: self.owner)
        } catch let error as StoreError where error.code == .leaseLost || error.code == .conflict {
            // A cancel, or another instance, changed the job: it is picked up again from the store.
            logger.info("job changed under the runner; will resume from the store", metadata: ["reason": "\(error.message)"])
            try? await self.store.releaseLease(id, owner: self.owner)
        } catch {
            logger.error("job runner stopped", metadata: ["error": "\(error)"])
            try? await self.store.releaseLease(id, owner: self.owner)
        }
        return nil
    }

    /// When a create attempt that began but recorded no outcome (the runner died or lost the job
    /// mid-call, or a cancel overtook it) can no longer take effect at the provider; nil if there
    /// is none. Both steps that list the provider's keys for the job's orphans wait for it:
    /// `create` before it makes the key again, and `rollback`, which a cancel can start while
    /// that create is still in flight. (A create that failed has its answer, or timed out: it
    /// recorded an outcome and lands nothing later.)
    static func interruptedCreateSettles(_ job: Job, after providerTimeout: Duration) -> Date? {
        guard job.state == .running, job.step == .create || job.step == .rollback, let begun = job.createAttemptBegunAt else { return nil }
        let (seconds, attoseconds) = providerTimeout.components
        return begun.addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18)
    }

    /// Takes the job one committed transition further.
    ///
    /// A step that succeeds commits the next step's intent with its own outcome when the next
    /// step runs at once: one transaction instead of two, and the intent is still on disk before
    /// the next step's effects. (If the runner then stops, the resumed job records another
    /// attempt; the one recorded here is spent without having done anything.)
    private func advance(
        _ rotation: inout Rotation, begun: inout Bool, logger: Logger, shouldContinue: @escaping @Sendable () async -> Bool
    ) async throws {
        let now = self.clock.now()
        if rotation.job.state == .queued {
            try rotation.job.start(at: now)
            var commit = RotationCommit(job: rotation.job, events: [event(now, "job.started", nil, "Rotation started.")])
            begun = try self.beginNextStep(&commit, at: now)
            try await self.commit(commit, &rotation)
            return
        }
        if rotation.job.step == .grace {
            // No provider call: nothing to record an intent for.
            var commit = try self.grace(rotation, now: now)
            begun = try self.beginNextStep(&commit, at: now)
            try await self.commit(commit, &rotation)
            return
        }
        let step = rotation.job.step
        if !begun {
            try rotation.job.beginAttempt(at: now)
            // Woken in `verify` by agents' acknowledgements (its agent targets have a deadline):
            // `verify` changes nothing at the provider, so the attempt needs no intent of its
            // own; its outcome's commit records it. A thousand acknowledgements would otherwise
            // write a thousand `step.started` events.
            let judgingAcknowledgements = step == .verify && rotation.job.targets.contains { $0.verifyDeadline != nil }
            if !judgingAcknowledgements {
                try await self.commit(
                    RotationCommit(job: rotation.job, events: [event(now, "step.started", step, "Attempt \(rotation.job.attempt) of \(step.rawValue).")]),
                    &rotation
                )
            }
        }
        begun = false
        let started = ContinuousClock.now
        let outcome = await self.attempt(step, &rotation, shouldContinue: shouldContinue)
        self.metrics.recordAttempt(step, duration: ContinuousClock.now - started)
        let finished = self.clock.now()
        switch outcome {
        case .done(var commit):
            try await self.foldQuietSteps(into: &commit, after: rotation, at: finished)
            begun = try self.beginNextStep(&commit, at: finished)
            try await self.commit(commit, &rotation)
        case .transient(let message, let retryAfter):
            var generator = SystemRandomNumberGenerator()
            if let delay = self.retry.delay(afterAttempt: rotation.job.attempt, retryAfter: retryAfter, using: &generator) {
                let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
                try rotation.job.retry(notBefore: finished.addingTimeInterval(seconds), at: finished)
                let text = "Attempt \(rotation.job.attempt) failed: \(message); retrying in \(String(format: "%.1f", seconds)) s."
                try await self.commit(RotationCommit(job: rotation.job, events: [event(finished, "step.retry", step, text)]), &rotation)
            } else {
                let error = JobError(code: "retries_exhausted", message: "Gave up after \(rotation.job.attempt) attempts: \(message)", step: step)
                try await self.commit(self.fail(rotation, error, now: finished), &rotation)
            }
        case .permanent(let error):
            try await self.commit(self.fail(rotation, error, now: finished), &rotation)
        }
    }

    /// Runs the steps that `commit` leads to and that act on nothing outside the store (`grace`
    /// as it begins, and `finalize` when no target is to be told) into the same commit: the same
    /// transitions and timeline, in one transaction instead of one each.
    private func foldQuietSteps(into commit: inout RotationCommit, after rotation: Rotation, at now: Date) async throws {
        var next = rotation
        while true {
            Self.mirror(commit, into: &next)
            guard next.job.state == .running, next.job.nextAttemptAt == nil else { return }
            let quiet: RotationCommit
            switch next.job.step {
            case .grace where next.job.graceEndsAt == nil:
                quiet = try self.grace(next, now: now)
            case .finalize where !next.job.targets.contains(where: { $0.state == .verified }):
                try next.job.beginAttempt(at: now)
                guard case .done(var finalized) = await self.attempt(.finalize, &next, shouldContinue: { true }) else { return }
                finalized.events.insert(event(now, "step.started", .finalize, "Attempt \(next.job.attempt) of finalize."), at: 0)
                quiet = finalized
            default:
                return
            }
            commit = RotationCommit(
                job: quiet.job,
                credential: quiet.credential ?? commit.credential,
                currentKey: quiet.currentKey == .unchanged ? commit.currentKey : quiet.currentKey,
                previousKey: quiet.previousKey == .unchanged ? commit.previousKey : quiet.previousKey,
                pendingKey: quiet.pendingKey == .unchanged ? commit.pendingKey : quiet.pendingKey,
                events: commit.events + quiet.events
            )
        }
    }

    /// `rotation` as it will be once `commit` is stored (the revision aside).
    private static func mirror(_ commit: RotationCommit, into rotation: inout Rotation) {
        rotation.job = commit.job
        if let credential = commit.credential { rotation.credential = credential }
        switch commit.currentKey {
        case .set(let secret): rotation.secrets.current = secret
        case .clear, .unchanged: break
        }
        switch commit.previousKey {
        case .set(let secret): rotation.secrets.previous = secret
        case .clear: rotation.secrets.previous = nil
        case .unchanged: break
        }
        switch commit.pendingKey {
        case .set(let secret): rotation.pendingKey = secret
        case .clear: rotation.pendingKey = nil
        case .unchanged: break
        }
    }

    /// Adds the intent for the step `commit` moves the job to, when that step runs at once (not
    /// `grace`, not waiting, job not over); whether it did.
    private func beginNextStep(_ commit: inout RotationCommit, at now: Date) throws -> Bool {
        let job = commit.job
        guard job.state == .running, job.step != .grace, job.nextAttemptAt == nil else { return false }
        try commit.job.beginAttempt(at: now)
        commit.events.append(event(now, "step.started", job.step, "Attempt \(commit.job.attempt) of \(job.step.rawValue)."))
        return true
    }

    /// Commits and mirrors the store's revision bump locally.
    private func commit(_ commit: RotationCommit, _ rotation: inout Rotation) async throws {
        try await self.store.commit(commit, owner: self.owner)
        if commit.job.state.isTerminal && !rotation.job.state.isTerminal {
            self.metrics.recordFinished(commit.job.state)
        }
        rotation.job = commit.job
        rotation.job.revision += 1
        if let credential = commit.credential { rotation.credential = credential }
    }

    /// A failed step: roll back before `revoke`, end `failed` (credential in `attention`) after.
    private func fail(_ rotation: Rotation, _ error: JobError, now: Date) throws -> RotationCommit {
        var job = rotation.job
        let failed = try job.failStep(error, at: now)
        guard failed else {
            return RotationCommit(job: job, events: [event(now, "job.rolling_back", error.step, "\(error.message) Rolling back.")])
        }
        var credential = rotation.credential
        credential.state = .attention
        credential.updatedAt = now
        return RotationCommit(
            job: job,
            credential: credential,
            events: [event(now, "job.failed", error.step, job.error?.message ?? error.message)]
        )
    }
}

func event(_ at: Date, _ type: String, _ step: JobStep?, _ message: String) -> JobEvent {
    JobEvent(at: at, type: type, step: step, message: message)
}
