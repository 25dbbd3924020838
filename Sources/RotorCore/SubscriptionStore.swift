public import Foundation

/// Where one event stands with one subscription.
public enum DeliveryState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Not delivered yet; the next attempt is due at `next_attempt_at`.
    case pending
    /// A 2xx answer was received.
    case delivered
    /// A permanent refusal, or 24 h of retries without success: no more attempts.
    case failed
}

/// One event's delivery to one subscription, as `GET /v1/subscriptions/{id}/deliveries` lists it.
public struct SubscriptionDelivery: Sendable, Hashable {
    /// The event (the `webhook-id`).
    public var eventID: EventID
    /// The subscription.
    public var subscriptionID: SubscriptionID
    /// The event's type.
    public var type: EventType
    /// Where it stands.
    public var state: DeliveryState
    /// Attempts made so far.
    public var attempts: Int
    /// The HTTP status of the last answer, if there was one.
    public var lastStatusCode: Int?
    /// Why the last attempt did not deliver. Never a secret.
    public var lastError: String?
    /// When the last attempt ended.
    public var lastAttemptAt: Date?
    /// When the next attempt is due; nil once delivered or failed.
    public var nextAttemptAt: Date?
    /// When it was delivered.
    public var deliveredAt: Date?
    /// When the event was written to the outbox.
    public var createdAt: Date

    /// Creates a record.
    public init(
        eventID: EventID,
        subscriptionID: SubscriptionID,
        type: EventType,
        state: DeliveryState,
        attempts: Int,
        lastStatusCode: Int?,
        lastError: String?,
        lastAttemptAt: Date?,
        nextAttemptAt: Date?,
        deliveredAt: Date?,
        createdAt: Date
    ) {
        self.eventID = eventID
        self.subscriptionID = subscriptionID
        self.type = type
        self.state = state
        self.attempts = attempts
        self.lastStatusCode = lastStatusCode
        self.lastError = lastError
        self.lastAttemptAt = lastAttemptAt
        self.nextAttemptAt = nextAttemptAt
        self.deliveredAt = deliveredAt
        self.createdAt = createdAt
    }
}

/// A delivery claimed for sending: the event, where it goes, and the secret to sign it with.
public struct OutboxMessage: Sendable {
    /// The event, payload included.
    public var event: OutboxEvent
    /// The subscription.
    public var subscriptionID: SubscriptionID
    /// The subscription's URL.
    public var url: String
    /// The subscription's `whsec_` signing secret, decrypted.
    public var signingSecret: Secret
    /// Attempts made before this one.
    public var attempts: Int
    /// When the event was written to the outbox: retries stop 24 h after it.
    public var createdAt: Date

    /// Creates a message.
    public init(event: OutboxEvent, subscriptionID: SubscriptionID, url: String, signingSecret: Secret, attempts: Int, createdAt: Date) {
        self.event = event
        self.subscriptionID = subscriptionID
        self.url = url
        self.signingSecret = signingSecret
        self.attempts = attempts
        self.createdAt = createdAt
    }
}

/// What one delivery attempt came to, as the dispatcher records it.
public enum DeliveryAttemptResult: Sendable, Hashable {
    /// A 2xx answer.
    case delivered(statusCode: Int)
    /// Not delivered; try again at `nextAttemptAt`.
    case retry(nextAttemptAt: Date, statusCode: Int?, error: String)
    /// Not delivered, and no more attempts.
    case failed(statusCode: Int?, error: String)
}

/// The delivery's fields after an attempt with a given result: the one mapping both stores write.
package struct DeliveryAttemptRecord: Sendable, Hashable {
    /// Where the delivery stands after the attempt.
    package var state: DeliveryState
    /// The answer's status code, if there was an answer.
    package var lastStatusCode: Int?
    /// Why the attempt did not deliver, cut to 500 characters so one verbose failure cannot bloat the row.
    package var lastError: String?
    /// When to try again; nil unless the result is a retry.
    package var nextAttemptAt: Date?
    /// When it was delivered; nil unless it was.
    package var deliveredAt: Date?

    /// The fields an attempt that ended at `now` with `result` leaves.
    package init(_ result: DeliveryAttemptResult, at now: Date) {
        switch result {
        case .delivered(let code):
            (state, lastStatusCode, lastError, nextAttemptAt, deliveredAt) = (.delivered, code, nil, nil, now)
        case .retry(let next, let code, let message):
            (state, lastStatusCode, lastError, nextAttemptAt, deliveredAt) = (.pending, code, String(message.prefix(500)), next, nil)
        case .failed(let code, let message):
            (state, lastStatusCode, lastError, nextAttemptAt, deliveredAt) = (.failed, code, String(message.prefix(500)), nil, nil)
        }
    }
}

/// Persistence for event subscriptions and their outbox (DESIGN.md §4, Event subscriptions).
///
/// Events are written by the store itself, in the transaction of the change they report: a
/// ``Store/commit(_:owner:)`` or ``Store/requestCancel(_:at:)`` that starts or ends a job, or puts
/// a credential in `attention`, inserts one delivery per matching subscription before it
/// commits. Every method is one transaction.
public protocol SubscriptionStore: Sendable {
    // MARK: Subscriptions

    /// Stores a subscription with its signing secret (sealed).
    func createSubscription(_ subscription: Subscription, signingSecret: Secret) async throws
    /// The subscription, or nil.
    func subscription(_ id: SubscriptionID) async throws -> Subscription?
    /// Subscriptions, oldest first.
    func subscriptions(_ page: PageRequest) async throws -> Page<Subscription>
    /// Deletes the subscription, its secret and its deliveries (pending ones are never sent).
    /// Throws ``StoreError/Code/notFound``.
    func deleteSubscription(_ id: SubscriptionID) async throws
    /// The subscription's deliveries, newest first. Throws ``StoreError/Code/notFound`` for an
    /// unknown subscription or an unreadable cursor.
    func deliveries(of id: SubscriptionID, _ page: PageRequest) async throws -> Page<SubscriptionDelivery>

    // MARK: Outbox

    /// Leases up to `limit` pending deliveries that are due at `now` and not leased by anyone
    /// (or whose lease lapsed) to `owner` until `leaseUntil`, and returns them, oldest first.
    func claimDeliveries(owner: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [OutboxMessage]
    /// Records an attempt's result and releases the lease, if `owner` still holds it (otherwise
    /// nothing changes: another instance took the delivery over).
    func recordDeliveryAttempt(
        event: EventID, subscription: SubscriptionID, owner: String, at: Date, result: DeliveryAttemptResult
    ) async throws
    /// Releases every delivery lease `owner` holds: called on start, when nothing of this
    /// instance can still be in flight, so a restart resends at once what a crash interrupted.
    func releaseDeliveryLeases(owner: String) async throws
    /// Writes `credential.expiring` for every credential whose current key is expiring at `now`
    /// (``OutboxEvent/isExpiring(_:at:)``) and was not reported before: at most once per key.
    /// Returns how many events were written.
    @discardableResult
    func enqueueExpiringEvents(at now: Date) async throws -> Int
    /// Calls `observer` after every transaction that committed outbox rows (to wake the
    /// dispatcher; polling remains the fallback).
    func observeOutbox(_ observer: @escaping @Sendable () -> Void)
}

/// Sends an outbox event to a subscriber.
public protocol EventSender: Sendable {
    /// POSTs `message.event.payload` to `message.url`, signed per Standard Webhooks with
    /// `message.signingSecret`, `webhook-id` the event id and `webhook-timestamp` `timestamp`.
    /// Returns the outcome and, when there was an answer, its status code.
    func send(_ message: OutboxMessage, timestamp: Date) async -> (outcome: DeliveryOutcome, statusCode: Int?)
}
