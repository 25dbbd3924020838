public import Foundation
public import RotorCore

/// How the outbox dispatcher delivers events to subscriptions (`ROTOR_OUTBOX_RETRY_BASE`,
/// `ROTOR_OUTBOX_RETRY_MAX`).
public struct OutboxConfiguration: Sendable {
    /// This instance's name on delivery leases (the engine's owner will do).
    public var owner: String
    /// Deliveries in flight at once.
    public var maxConcurrentDeliveries: Int
    /// How long a claimed delivery stays leased: longer than one attempt's timeout.
    public var leaseDuration: TimeInterval
    /// How often to look for due deliveries when nothing wakes the dispatcher.
    public var pollInterval: Duration
    /// Backoff between attempts; its attempt bound is ignored: ``giveUpAfter`` ends retries.
    public var retry: RetryPolicy
    /// How long after the event retries stop and the delivery is `failed` (DESIGN.md §4: 24 h).
    public var giveUpAfter: TimeInterval
    /// How often credentials are checked for keys about to expire (`credential.expiring`).
    public var expiryCheckInterval: TimeInterval

    /// The defaults: 16 at once, 60 s leases, 1 s polling, backoff from 5 s up to 1 h per wait,
    /// giving up after 24 h, expiry checked every 5 min.
    public init(
        owner: String = EngineConfiguration.uniqueOwner(),
        maxConcurrentDeliveries: Int = 16,
        leaseDuration: TimeInterval = 60,
        pollInterval: Duration = .seconds(1),
        retry: RetryPolicy = OutboxConfiguration.defaultRetry,
        giveUpAfter: TimeInterval = 86_400,
        expiryCheckInterval: TimeInterval = 300
    ) {
        self.owner = owner
        self.maxConcurrentDeliveries = max(1, maxConcurrentDeliveries)
        self.leaseDuration = leaseDuration
        self.pollInterval = pollInterval
        self.retry = RetryPolicy(base: retry.base, maximum: retry.maximum, attemptsPerStep: .max)
        self.giveUpAfter = giveUpAfter
        self.expiryCheckInterval = expiryCheckInterval
    }

    /// 5 s for the first retry's ceiling, at most 1 h for any one wait.
    public static let defaultRetry = RetryPolicy(base: .seconds(5), maximum: .seconds(3600), attemptsPerStep: .max)
}
