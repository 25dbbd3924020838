import Foundation
import Logging
import RotorCore

/// How one target's deliveries within a step came out.
struct RetriedDelivery: Sendable {
    /// The last attempt's outcome.
    var outcome: DeliveryOutcome
    /// Attempts made in this step.
    var attempts: Int
    /// Whether a transient failure used up the retry policy's attempts (otherwise a transient
    /// outcome means the wait was cut short: shutdown, or the lease was lost).
    var exhausted: Bool
}

extension JobRunner {
    /// Calls `operation` for one target until it is delivered, fails for good, or has failed
    /// transiently `retry.attemptsPerStep` times, waiting between attempts as the retry policy
    /// says (full jitter, `Retry-After` as a floor). Each target retries on its own, so a slow or
    /// flaky consumer neither holds back nor uses up the attempts of the others. Every attempt is
    /// written to the delivery log as it ends.
    /// Runs every target's call at once, each with its own retries (``withRetries``); the results
    /// by the index each call came with, in that order.
    func retryingEach(
        _ calls: [(index: Int, target: TargetID, call: @Sendable () async -> DeliveryResult)],
        eventType: String,
        job: JobID,
        shouldContinue: @escaping @Sendable () async -> Bool
    ) async -> [(Int, RetriedDelivery)] {
        await withTaskGroup(of: (Int, RetriedDelivery).self) { group in
            for item in calls {
                group.addTask {
                    (item.index, await self.withRetries(eventType, job: job, target: item.target, shouldContinue: shouldContinue, item.call))
                }
            }
            var results: [(Int, RetriedDelivery)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }
        }
    }

    func withRetries(
        _ eventType: String,
        job: JobID,
        target: TargetID,
        shouldContinue: @escaping @Sendable () async -> Bool,
        _ operation: @Sendable () async -> DeliveryResult
    ) async -> RetriedDelivery {
        var generator = SystemRandomNumberGenerator()
        var attempt = 0
        while true {
            attempt += 1
            let result = await self.timed(eventType, job: job, target: target, attempt: attempt, operation)
            guard case .transientFailure(_, let retryAfter) = result.outcome else {
                return RetriedDelivery(outcome: result.outcome, attempts: attempt, exhausted: false)
            }
            guard let delay = self.retry.delay(afterAttempt: attempt, retryAfter: retryAfter, using: &generator) else {
                return RetriedDelivery(outcome: result.outcome, attempts: attempt, exhausted: true)
            }
            guard await self.pause(for: delay, job: job, shouldContinue: shouldContinue) else {
                return RetriedDelivery(outcome: result.outcome, attempts: attempt, exhausted: false)
            }
        }
    }

    /// One delivery, recorded, without retries: `key.revoked` and `key.rolled_back` are best
    /// effort (the old key is gone, or the credential is back as it was, whatever the target says).
    func deliverOnce(_ event: TargetEvent, to target: Target, signingSecrets: [Secret], job: JobID) async -> DeliveryOutcome {
        await self.timed(event.kind.rawValue, job: job, target: target.id, attempt: 1) {
            await self.delivery.deliver(event, to: target, signingSecrets: signingSecrets)
        }.outcome
    }

    /// Runs `operation` and writes its record: status, duration, error.
    private func timed(
        _ eventType: String,
        job: JobID,
        target: TargetID,
        attempt: Int,
        _ operation: @Sendable () async -> DeliveryResult
    ) async -> DeliveryResult {
        let at = self.clock.now()
        let started = ContinuousClock.now
        let result = await operation()
        let elapsed = (ContinuousClock.now - started).components
        let error: String?
        switch result.outcome {
        case .delivered: error = nil
        case .transientFailure(let message, _), .permanentFailure(let message): error = message
        }
        let record = TargetDeliveryRecord(
            jobID: job,
            targetID: target,
            eventType: eventType,
            attempt: attempt,
            statusCode: result.statusCode,
            durationMs: Int(elapsed.seconds) * 1000 + Int(elapsed.attoseconds / 1_000_000_000_000_000),
            error: error,
            at: at
        )
        // The log is for operators; failing to write it does not stop delivery.
        let log = self.store
        do {
            if eventType == TargetEvent.Kind.keyPending.rawValue {
                // `key.pending` carries the new key: each attempt is a disclosure, audited
                // with the delivery's record (naming the target; outcome as the target answered).
                let outcome = result.statusCode.map { "sent, answered \($0)" } ?? "sent, no answer"
                try await Audit.$actor.withValue("engine") {
                    try await Audit.recording("secret.disclose", target.rawValue, at: at, outcome: outcome) {
                        try await log.recordDelivery(record)
                    }
                }
            } else {
                try await log.recordDelivery(record)
            }
        } catch {
            self.logger.warning("could not record a target delivery", metadata: ["job_id": "\(job)", "error": "\(error)"])
        }
        return result
    }

    /// Waits `delay` on the engine's clock, keeping the job's lease for that long. False when the
    /// wait was cut short: the engine is stopping, or the lease is no longer ours. The step then
    /// ends as a transient failure and resumes later from the store.
    func pause(for delay: Duration, job: JobID, shouldContinue: @Sendable () async -> Bool) async -> Bool {
        let deadline = self.clock.now().addingTimeInterval(Self.seconds(delay))
        guard await shouldContinue() else { return false }
        // Long enough for the longest wait the policy allows, not just this one: targets back off
        // concurrently, and a shorter renewal by one must not cut the lease under another's wait.
        let leaseUntil = self.clock.now().addingTimeInterval(Self.seconds(self.retry.maximum) + self.leaseDuration)
        guard (try? await self.store.renewLease(job, owner: self.owner, until: max(leaseUntil, deadline.addingTimeInterval(self.leaseDuration)))) == true else {
            return false
        }
        // In slices, so that a graceful shutdown does not wait out a long backoff.
        while self.clock.now() < deadline {
            guard await shouldContinue() else { return false }
            do {
                try await self.clock.sleep(until: min(deadline, self.clock.now().addingTimeInterval(1)))
            } catch {
                return false
            }
        }
        return true
    }

    private static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
