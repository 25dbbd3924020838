import Foundation
public import Logging
public import RotorCore
public import ServiceLifecycle

/// Delivers outbox events to subscriptions: at least once, Standard-Webhooks signed, with
/// exponential backoff for up to 24 h (DESIGN.md §4, Event subscriptions).
///
/// The store writes events in the transactions of the changes they report and wakes the
/// dispatcher when they commit; polling is the fallback (and what finds retries that came due).
/// Each delivery is leased while in flight, so several instances never send it at once; a crash
/// loses nothing, since an attempt is recorded only after its answer, and a restart resends what
/// was in flight. The same loop also writes `credential.expiring` events at an interval.
public actor OutboxDispatcher: Service {
    private let store: any SubscriptionStore
    private let sender: any EventSender
    private let clock: any RotorClock
    private let configuration: OutboxConfiguration
    private let logger: Logger
    private var inFlight = 0
    private var stopping = false
    private let doorbell = Doorbell()
    private var nextExpiryCheck: Date?

    /// Creates the dispatcher.
    public init(
        store: any SubscriptionStore,
        sender: any EventSender,
        clock: any RotorClock = SystemClock(),
        configuration: OutboxConfiguration = OutboxConfiguration(),
        logger: Logger
    ) {
        self.store = store
        self.sender = sender
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
    }

    /// Delivers until graceful shutdown or cancellation; deliveries in flight finish first.
    public func run() async throws {
        self.store.observeOutbox { [weak self] in
            guard let self else { return }
            Task { await self.wake() }
        }
        do {
            // Nothing of this instance is in flight yet: what its leases name, a crash interrupted.
            try await self.store.releaseDeliveryLeases(owner: self.configuration.owner)
        } catch {
            self.logger.error("releasing this instance's delivery leases failed", metadata: ["error": "\(error)"])
        }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                while !self.stopping && !Task.isCancelled {
                    await self.checkExpiry()
                    await self.claim(into: &group)
                    await self.waitForWork()
                }
            }
        } onGracefulShutdown: {
            Task { await self.stop() }
        }
    }

    /// Stops claiming; deliveries in flight finish and are recorded.
    public func stop() {
        self.stopping = true
        self.wake()
    }

    /// Looks for due deliveries now.
    public func wake() {
        self.doorbell.ring()
    }

    /// Whether the dispatcher is running and not stopping, for `/readyz`.
    public var isAccepting: Bool { !self.stopping }

    private func checkExpiry() async {
        let now = self.clock.now()
        if let next = self.nextExpiryCheck, now < next { return }
        self.nextExpiryCheck = now.addingTimeInterval(self.configuration.expiryCheckInterval)
        do {
            let written = try await self.store.enqueueExpiringEvents(at: now)
            if written > 0 { self.logger.info("credential keys expiring", metadata: ["events": "\(written)"]) }
        } catch {
            self.logger.error("checking for expiring keys failed", metadata: ["error": "\(error)"])
        }
    }

    private func claim(into group: inout DiscardingTaskGroup) async {
        let capacity = self.configuration.maxConcurrentDeliveries - self.inFlight
        guard capacity > 0 else { return }
        let now = self.clock.now()
        let messages: [OutboxMessage]
        do {
            messages = try await self.store.claimDeliveries(
                owner: self.configuration.owner,
                now: now,
                leaseUntil: now.addingTimeInterval(self.configuration.leaseDuration),
                limit: capacity
            )
        } catch {
            self.logger.error("claiming deliveries failed", metadata: ["error": "\(error)"])
            return
        }
        self.inFlight += messages.count
        for message in messages {
            group.addTask {
                await self.deliver(message)
                await self.finished()
            }
        }
    }

    private func finished() {
        self.inFlight -= 1
        self.wake()
    }

    /// One attempt, then its record. Nothing here throws: a failure to record leaves the lease
    /// to lapse, and the delivery is sent again (at least once).
    private nonisolated func deliver(_ message: OutboxMessage) async {
        var logger = self.logger
        logger[metadataKey: "event_id"] = "\(message.event.id)"
        logger[metadataKey: "subscription_id"] = "\(message.subscriptionID)"
        let (outcome, statusCode) = await self.sender.send(message, timestamp: self.clock.now())
        let now = self.clock.now()
        let result = Self.result(of: outcome, statusCode: statusCode, message: message, at: now, configuration: self.configuration)
        switch result {
        case .delivered: logger.debug("event delivered")
        case .retry(let next, _, let error): logger.info("event delivery failed; will retry", metadata: ["error": "\(error)", "next_attempt_at": "\(next)"])
        case .failed(_, let error): logger.warning("event delivery failed for good", metadata: ["error": "\(error)"])
        }
        do {
            try await self.store.recordDeliveryAttempt(
                event: message.event.id, subscription: message.subscriptionID, owner: self.configuration.owner, at: now, result: result)
        } catch {
            logger.error("recording a delivery attempt failed", metadata: ["error": "\(error)"])
        }
    }

    /// What an attempt's outcome means for the delivery: 2xx delivered; a transient failure
    /// retried after a backoff (full jitter, `Retry-After` as a floor), the last attempt falling
    /// exactly at the give-up time; past it, or on a permanent failure, `failed`.
    static func result(
        of outcome: DeliveryOutcome, statusCode: Int?, message: OutboxMessage, at now: Date, configuration: OutboxConfiguration
    ) -> DeliveryAttemptResult {
        switch outcome {
        case .delivered(let status):
            return .delivered(statusCode: status)
        case .permanentFailure(let error):
            return .failed(statusCode: statusCode, error: error)
        case .transientFailure(let error, let retryAfter):
            let giveUpAt = message.createdAt.addingTimeInterval(configuration.giveUpAfter)
            guard now < giveUpAt else {
                let limit = configuration.giveUpAfter
                let span = limit >= 3600 && limit.truncatingRemainder(dividingBy: 3600) == 0 ? "\(Int(limit / 3600)) h" : "\(Int(limit)) s"
                return .failed(statusCode: statusCode, error: "\(error); gave up after \(span) of retries")
            }
            var generator = SystemRandomNumberGenerator()
            let delay = configuration.retry.delay(afterAttempt: message.attempts + 1, retryAfter: retryAfter, using: &generator) ?? .zero
            let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
            return .retry(nextAttemptAt: min(now.addingTimeInterval(seconds), giveUpAt), statusCode: statusCode, error: error)
        }
    }

    private func waitForWork() async {
        if self.stopping { return }
        await self.doorbell.wait(upTo: self.configuration.pollInterval)
    }
}
