public import Foundation
import GRDB
public import RotorCore
import Synchronization
import RotorStorage

/// The field a subscription's signing secret is sealed under (owner: the subscription's id).
private let signingSecretField = "signing_secret"

extension SQLiteStore: SubscriptionStore {
    // MARK: Subscriptions

    public func createSubscription(_ subscription: Subscription, signingSecret: Secret) async throws {
        try await self.writer.write { db in
            try db.run(
                sql: "INSERT INTO subscriptions (id, url, events, created_at) VALUES (?, ?, ?, ?)",
                arguments: [
                    subscription.id.rawValue, subscription.url, try RowCoding.json(subscription.events), RowCoding.time(subscription.createdAt),
                ]
            )
            try self.putSecret(db, owner: subscription.id.rawValue, field: signingSecretField, signingSecret)
        }
    }

    public func subscription(_ id: SubscriptionID) async throws -> Subscription? {
        try await self.reads.read { db in
            try db.fetchOne("SELECT * FROM subscriptions WHERE id = ?", arguments: [id.rawValue], as: RowCoding.subscription(from:))
        }
    }

    public func subscriptions(_ page: PageRequest) async throws -> Page<Subscription> {
        let after = try TimeKeyset.subscriptions.after(page.cursor)
        return try await self.scans.read { db in
            try Self.page(
                db, .subscriptions, after: after, limit: page.limit, select: "SELECT * FROM subscriptions", decode: RowCoding.subscription(from:))
        }
    }

    public func deleteSubscription(_ id: SubscriptionID) async throws {
        try await self.writer.write { db in
            // Deliveries go with it (ON DELETE CASCADE); events no other subscription needs, too.
            try db.run(sql: "DELETE FROM subscriptions WHERE id = ?", arguments: [id.rawValue])
            guard db.changesCount > 0 else { throw StoreError(.notFound, message: "no subscription \(id)") }
            try db.run(sql: "DELETE FROM secrets WHERE owner_id = ?", arguments: [id.rawValue])
            try db.run(
                sql: "DELETE FROM outbox_events WHERE NOT EXISTS (SELECT 1 FROM outbox_deliveries WHERE event_id = outbox_events.id)"
            )
        }
    }

    public func deliveries(of id: SubscriptionID, _ page: PageRequest) async throws -> Page<SubscriptionDelivery> {
        let after = try TimeKeyset.deliveries.after(page.cursor)
        return try await self.scans.read { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM subscriptions WHERE id = ?", arguments: [id.rawValue]) != nil else {
                throw StoreError(.notFound, message: "no subscription \(id)")
            }
            return try Self.page(
                db, .deliveries, after: after, limit: page.limit,
                select: "SELECT d.*, e.type FROM outbox_deliveries d JOIN outbox_events e ON e.id = d.event_id",
                where: ["d.subscription_id = ?"], arguments: [id.rawValue], time: "d.created_at", id: "d.event_id",
                decode: RowCoding.delivery(from:))
        }
    }

    // MARK: Outbox

    public func claimDeliveries(owner: String, now: Date, leaseUntil: Date, limit: Int) async throws -> [OutboxMessage] {
        guard limit > 0 else { return [] }
        return try await self.writer.write { db in
            let rows = try db.fetchRows("""
                    SELECT d.event_id, d.subscription_id, d.attempts, d.created_at, e.type, e.timestamp, e.payload, s.url
                    FROM outbox_deliveries d
                    JOIN outbox_events e ON e.id = d.event_id
                    JOIN subscriptions s ON s.id = d.subscription_id
                    WHERE d.state = 'pending' AND d.next_attempt_at <= :now
                      AND (d.lease_owner IS NULL OR d.lease_expires_at <= :now)
                    ORDER BY d.next_attempt_at, d.created_at, d.event_id
                    LIMIT :limit
                    """,
                arguments: ["now": RowCoding.time(now), "limit": limit]
            )
            var messages: [OutboxMessage] = []
            for row in rows {
                let eventID: String = try row.decode(String.self, forColumn: "event_id")
                let subscriptionID: String = try row.decode(String.self, forColumn: "subscription_id")
                guard let secret = try self.fetchSecret(db, owner: subscriptionID, field: signingSecretField) else {
                    throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "subscription \(subscriptionID) has no stored signing secret")
                }
                try db.run(
                    sql: "UPDATE outbox_deliveries SET lease_owner = ?, lease_expires_at = ? WHERE event_id = ? AND subscription_id = ?",
                    arguments: [owner, RowCoding.time(leaseUntil), eventID, subscriptionID]
                )
                let event = OutboxEvent(
                    id: EventID(unchecked: eventID),
                    type: try RowCoding.enumValue(EventType.self, row, "type"),
                    timestamp: try RowCoding.date(row, "timestamp"),
                    payload: Array(try row.decode(Data.self, forColumn: "payload"))
                )
                messages.append(
                    OutboxMessage(
                        event: event,
                        subscriptionID: SubscriptionID(unchecked: subscriptionID),
                        url: try row.decode(String.self, forColumn: "url"),
                        signingSecret: secret,
                        attempts: try row.decode(Int.self, forColumn: "attempts"),
                        createdAt: try RowCoding.date(row, "created_at")
                    )
                )
            }
            return messages
        }
    }

    public func recordDeliveryAttempt(event: EventID, subscription: SubscriptionID, owner: String, at now: Date, result: DeliveryAttemptResult) async throws {
        let record = DeliveryAttemptRecord(result, at: now)
        try await self.writer.write { db in
            try db.run(
                sql: """
                    UPDATE outbox_deliveries
                    SET state = ?, attempts = attempts + 1, last_status_code = ?, last_error = ?, last_attempt_at = ?,
                        next_attempt_at = ?, delivered_at = ?, lease_owner = NULL, lease_expires_at = NULL
                    WHERE event_id = ? AND subscription_id = ? AND lease_owner = ? AND state = 'pending'
                    """,
                arguments: [
                    record.state.rawValue, record.lastStatusCode, record.lastError, RowCoding.time(now), RowCoding.time(record.nextAttemptAt),
                    RowCoding.time(record.deliveredAt), event.rawValue, subscription.rawValue, owner,
                ]
            )
        }
    }

    public func releaseDeliveryLeases(owner: String) async throws {
        try await self.writer.write { db in
            try db.run(
                sql: "UPDATE outbox_deliveries SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ?",
                arguments: [owner]
            )
        }
    }

    @discardableResult
    public func enqueueExpiringEvents(at now: Date) async throws -> Int {
        try await self.writer.write { db in
            let rows = try db.fetchRows("""
                    SELECT c.* FROM credentials c
                    WHERE c.schedule IS NOT NULL
                      AND NOT EXISTS (
                          SELECT 1 FROM expiry_notices n
                          WHERE n.credential_id = c.id AND n.provider_key_id = json_extract(c.current_key, '$.provider_key_id'))
                    """
            )
            var written = 0
            for credential in try rows.map(RowCoding.credential(from:)) where OutboxEvent.isExpiring(credential, at: now) {
                try db.run(
                    sql: "INSERT INTO expiry_notices (credential_id, provider_key_id, noticed_at) VALUES (?, ?, ?)",
                    arguments: [credential.id.rawValue, credential.current.providerKeyID, RowCoding.time(now)]
                )
                try self.enqueue(db, [OutboxEvent.expiring(credential, at: now)], at: now)
                written += 1
            }
            return written
        }
    }

    public func observeOutbox(_ observer: @escaping @Sendable () -> Void) {
        self.outboxObservers.withLock { $0.append(observer) }
    }

    // MARK: Writing events (inside other transactions)

    /// Reads the states a transaction is about to change; call before its writes.
    static func outboxBaseline(_ db: Database, credential: CredentialID, jobState: JobState?) throws -> OutboxBaseline {
        let state = try String.fetchOne(cached: db, sql: "SELECT state FROM credentials WHERE id = ?", arguments: [credential.rawValue])
        return OutboxBaseline(jobState: jobState, credentialState: state.flatMap(CredentialState.init(rawValue:)))
    }

    /// Writes the events that the change to `job` (and its credential) since `baseline` reports,
    /// in the caller's transaction; call after its writes.
    func enqueueEvents(_ db: Database, reporting job: Job, since baseline: OutboxBaseline) throws {
        // Most commits change neither; without subscriptions there is nothing to write at all.
        guard try Bool.fetchOne(cached: db, sql: "SELECT 1 FROM subscriptions LIMIT 1") != nil else { return }
        guard baseline.credentialState != nil, let credential = try Self.fetchCredential(db, job.credentialID) else { return }
        try self.enqueue(db, baseline.events(reporting: job, credential: credential), at: job.updatedAt)
    }

    /// Inserts each event with one pending delivery per subscription that wants its type, and
    /// wakes the observers once the transaction commits. Events nobody wants are not stored.
    func enqueue(_ db: Database, _ events: [OutboxEvent], at now: Date) throws {
        guard !events.isEmpty else { return }
        let planned = try outboxRecipients(events, subscriptions: try db.fetchRows("SELECT id, events FROM subscriptions"))
        for (event, recipients) in planned {
            try db.run(
                sql: "INSERT INTO outbox_events (id, type, timestamp, payload) VALUES (?, ?, ?, ?)",
                arguments: [event.id.rawValue, event.type.rawValue, RowCoding.time(event.timestamp), Data(event.payload)]
            )
            for recipient in recipients {
                try db.run(
                    sql: """
                        INSERT INTO outbox_deliveries (event_id, subscription_id, state, attempts, next_attempt_at, created_at)
                        VALUES (?, ?, 'pending', 0, ?, ?)
                        """,
                    arguments: [event.id.rawValue, recipient, RowCoding.time(now), RowCoding.time(now)]
                )
            }
        }
        if !planned.isEmpty {
            db.afterNextTransaction { _ in
                for observer in self.outboxObservers.withLock({ $0 }) { observer() }
            }
        }
    }
}
