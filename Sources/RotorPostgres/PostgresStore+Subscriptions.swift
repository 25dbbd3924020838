public import Foundation
import NIOCore
import PostgresNIO
import Synchronization
public import RotorCore
import RotorStorage

extension PostgresStore: SubscriptionStore {
    // MARK: Subscriptions

    public func createSubscription(_ subscription: Subscription, signingSecret: Secret) async throws {
        try await self.write { tx in
            try await tx.run(
                """
                INSERT INTO subscriptions (id, url, events, created_at)
                VALUES (\(subscription.id.rawValue), \(subscription.url), \(try RowCoding.json(subscription.events)),
                    \(subscription.createdAt.timeIntervalSinceReferenceDate))
                """
            )
            try await self.putSecret(tx, owner: subscription.id.rawValue, field: EnvelopeField.subscriptionSigningSecret, signingSecret)
        }
    }

    public func subscription(_ id: SubscriptionID) async throws -> Subscription? {
        try await self.read { tx in
            try await tx.rows("SELECT * FROM subscriptions WHERE id = \(id.rawValue)").first.map(RowCoding.subscription(from:))
        }
    }

    public func subscriptions(_ page: PageRequest) async throws -> Page<Subscription> {
        let after = try TimeKeyset.subscriptions.after(page.cursor)
        return try await self.read { tx in
            try await Self.page(
                tx, .subscriptions, after: after, limit: page.limit, SQL("SELECT * FROM subscriptions"), decode: RowCoding.subscription(from:))
        }
    }

    public func deleteSubscription(_ id: SubscriptionID) async throws {
        try await self.write { tx in
            // Deliveries go with it (ON DELETE CASCADE); events no other subscription needs, too.
            guard try await !tx.rows("DELETE FROM subscriptions WHERE id = \(id.rawValue) RETURNING id").isEmpty else {
                throw StoreError(.notFound, message: "no subscription \(id)")
            }
            try await tx.run("DELETE FROM secrets WHERE owner_id = \(id.rawValue)")
            try await tx.run(
                "DELETE FROM outbox_events WHERE NOT EXISTS (SELECT 1 FROM outbox_deliveries WHERE event_id = outbox_events.id)"
            )
        }
    }

    public func deliveries(of id: SubscriptionID, _ page: PageRequest) async throws -> Page<SubscriptionDelivery> {
        let after = try TimeKeyset.deliveries.after(page.cursor)
        return try await self.read { tx in
            guard try await !tx.rows("SELECT 1 AS found FROM subscriptions WHERE id = \(id.rawValue)").isEmpty else {
                throw StoreError(.notFound, message: "no subscription \(id)")
            }
            let sql = SQL("SELECT d.*, e.type FROM outbox_deliveries d JOIN outbox_events e ON e.id = d.event_id")
            return try await Self.page(
                tx, .deliveries, after: after, limit: page.limit, sql, where: ["d.subscription_id = \(sql.bind(.text(id.rawValue)))"],
                time: "d.created_at", id: "d.event_id", decode: RowCoding.delivery(from:))
        }
    }

    // MARK: Outbox

    public func claimDeliveries(owner: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [OutboxMessage] {
        guard limit > 0 else { return [] }
        let now = now.timeIntervalSinceReferenceDate
        let until = leaseUntil.timeIntervalSinceReferenceDate
        return try await self.write { tx in
            // SKIP LOCKED: dispatchers of several instances take different deliveries.
            let rows = try await tx.rows(
                """
                SELECT d.event_id, d.subscription_id, d.attempts, d.created_at, e.type, e.timestamp, e.payload, s.url
                FROM outbox_deliveries d
                JOIN outbox_events e ON e.id = d.event_id
                JOIN subscriptions s ON s.id = d.subscription_id
                WHERE d.state = 'pending' AND d.next_attempt_at <= \(now)
                  AND (d.lease_owner IS NULL OR d.lease_expires_at <= \(now))
                ORDER BY d.next_attempt_at, d.created_at, d.event_id
                LIMIT \(limit)
                FOR UPDATE OF d SKIP LOCKED
                """
            )
            var messages: [OutboxMessage] = []
            for row in rows {
                let eventID = try row.string("event_id")
                let subscriptionID = try row.string("subscription_id")
                guard let secret = try await self.fetchSecret(tx, owner: subscriptionID, field: EnvelopeField.subscriptionSigningSecret) else {
                    throw PostgresStoreError("subscription \(subscriptionID) has no stored signing secret")
                }
                try await tx.run(
                    """
                    UPDATE outbox_deliveries SET lease_owner = \(owner), lease_expires_at = \(until)
                    WHERE event_id = \(eventID) AND subscription_id = \(subscriptionID)
                    """
                )
                let event = OutboxEvent(
                    id: EventID(unchecked: eventID),
                    type: try RowCoding.enumValue(EventType.self, row, "type"),
                    timestamp: try RowCoding.date(row, "timestamp"),
                    payload: try row.bytes("payload")
                )
                messages.append(
                    OutboxMessage(
                        event: event,
                        subscriptionID: SubscriptionID(unchecked: subscriptionID),
                        url: try row.string("url"),
                        signingSecret: secret,
                        attempts: try row.int("attempts"),
                        createdAt: try RowCoding.date(row, "created_at")
                    )
                )
            }
            return messages
        }
    }

    public func recordDeliveryAttempt(event: EventID, subscription: SubscriptionID, owner: String, at now: Date, result: DeliveryAttemptResult) async throws {
        let record = DeliveryAttemptRecord(result, at: now)
        try await self.write { tx in
            try await tx.run(
                """
                UPDATE outbox_deliveries
                SET state = \(record.state.rawValue), attempts = attempts + 1, last_status_code = \(record.lastStatusCode),
                    last_error = \(record.lastError), last_attempt_at = \(now.timeIntervalSinceReferenceDate),
                    next_attempt_at = \(record.nextAttemptAt?.timeIntervalSinceReferenceDate),
                    delivered_at = \(record.deliveredAt?.timeIntervalSinceReferenceDate), lease_owner = NULL, lease_expires_at = NULL
                WHERE event_id = \(event.rawValue) AND subscription_id = \(subscription.rawValue) AND lease_owner = \(owner)
                  AND state = 'pending'
                """
            )
        }
    }

    public func releaseDeliveryLeases(owner: String) async throws {
        try await self.write { tx in
            try await tx.run("UPDATE outbox_deliveries SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = \(owner)")
        }
    }

    @discardableResult
    public func enqueueExpiringEvents(at now: Date) async throws -> Int {
        try await self.write { tx in
            let rows = try await tx.rows(
                """
                SELECT c.* FROM credentials c
                WHERE c.schedule IS NOT NULL
                  AND NOT EXISTS (
                      SELECT 1 FROM expiry_notices n
                      WHERE n.credential_id = c.id AND n.provider_key_id = (c.current_key::jsonb ->> 'provider_key_id'))
                """
            )
            var written = 0
            for credential in try rows.map(RowCoding.credential(from:)) where OutboxEvent.isExpiring(credential, at: now) {
                // Another instance checking at the same moment: its notice wins, this one writes nothing.
                let noticed = try await tx.rows(
                    """
                    INSERT INTO expiry_notices (credential_id, provider_key_id, noticed_at)
                    VALUES (\(credential.id.rawValue), \(credential.current.providerKeyID), \(now.timeIntervalSinceReferenceDate))
                    ON CONFLICT DO NOTHING RETURNING credential_id
                    """
                )
                guard !noticed.isEmpty else { continue }
                try await self.enqueue(&tx, [OutboxEvent.expiring(credential, at: now)], at: now)
                written += 1
            }
            return written
        }
    }

    public func observeOutbox(_ observer: @escaping @Sendable () -> Void) {
        self.outboxObservers.withLock { $0.append(observer) }
    }

    // MARK: Writing events (inside other transactions)

    /// Reads the states a transaction is about to change, in one statement; call before its writes.
    static func outboxBaseline(_ tx: Transaction, credential: CredentialID, jobState: JobState?) async throws -> OutboxBaseline {
        let row = try await tx.rows(
            """
            SELECT (SELECT state FROM credentials WHERE id = \(credential.rawValue)) AS state,
                EXISTS (SELECT 1 FROM subscriptions) AS subscribed
            """
        ).first
        return OutboxBaseline(
            jobState: jobState, credentialState: try row?.optionalString("state").flatMap(CredentialState.init(rawValue:)),
            subscribed: try row?.bool("subscribed") ?? false)
    }

    /// Writes the events that the change to `job` (and its credential) since `baseline` reports,
    /// in the caller's transaction; call after its writes.
    func enqueueEvents(_ tx: inout Transaction, reporting job: Job, since baseline: OutboxBaseline) async throws {
        // Most commits change neither; without subscriptions there is nothing to write at all.
        guard baseline.subscribed, baseline.credentialState != nil, let credential = try await Self.fetchCredential(tx, job.credentialID) else { return }
        try await self.enqueue(&tx, baseline.events(reporting: job, credential: credential), at: job.updatedAt)
    }

    /// Inserts each event with one pending delivery per subscription that wants its type, and
    /// has every instance's dispatcher woken once the transaction commits. Events nobody wants
    /// are not stored.
    func enqueue(_ tx: inout Transaction, _ events: [OutboxEvent], at now: Date) async throws {
        guard !events.isEmpty else { return }
        let planned = try outboxRecipients(events, subscriptions: try await tx.rows("SELECT id, events FROM subscriptions"))
        for (event, recipients) in planned {
            try await tx.run(
                """
                INSERT INTO outbox_events (id, type, timestamp, payload)
                VALUES (\(event.id.rawValue), \(event.type.rawValue), \(event.timestamp.timeIntervalSinceReferenceDate), \(ByteBuffer(bytes: event.payload)))
                """
            )
            for recipient in recipients {
                try await tx.run(
                    """
                    INSERT INTO outbox_deliveries (event_id, subscription_id, state, attempts, next_attempt_at, created_at)
                    VALUES (\(event.id.rawValue), \(recipient), 'pending', 0, \(now.timeIntervalSinceReferenceDate), \(now.timeIntervalSinceReferenceDate))
                    """
                )
            }
        }
        if !planned.isEmpty {
            tx.wroteOutbox = true
            // Other instances' dispatchers; this one's observers are called after the commit.
            try await tx.run("SELECT pg_notify(\(Self.outboxChannel), current_schema() || '|' || \(self.instanceToken))")
        }
    }
}
