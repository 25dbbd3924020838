import Foundation
import RotorCore
import RotorCrypto
import Testing

/// Retention in every store: ended outbox deliveries, hook deliveries and target delivery logs
/// older than the cutoff go, batch by batch; newer and pending ones stay; the audit log stays.
package struct RetentionStoreConformance: Sendable {
    package init() {}

    let t0 = Sample.t0
    let day: TimeInterval = 86_400
    func at(_ days: Double) -> Date { self.t0.addingTimeInterval(days * self.day) }

    package func prune(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            // Three subscriptions to job.started; one job starts at day 0, another at day 100.
            var subscriptions: [Subscription] = []
            for index in 0..<3 {
                let subscription = Subscription(id: .generate(), url: "https://hooks\(index).example/rotor", events: [.jobStarted], createdAt: self.t0)
                try await store.createSubscription(subscription, signingSecret: Secret(WebhookSecret.generate().encoded))
                subscriptions.append(subscription)
            }
            let old = try await store.addJob(for: try await store.addCredential(), at: self.t0)
            let new = try await store.addJob(for: try await store.addCredential(), at: self.at(100))
            for (job, time) in [(old, self.t0), (new, self.at(100))] {
                _ = try await store.claimJobs(owner: "engine", now: time, leaseUntil: time.addingTimeInterval(600), limit: 10)
                var rotation = try await store.rotation(job.id)
                try rotation.job.start(at: time)
                try await store.commit(RotationCommit(job: rotation.job), owner: "engine")
            }
            // The old event: delivered to the first subscription, failed for good at the second,
            // still pending (retrying) at the third. The new one: delivered everywhere.
            let oldClaims = try await store.claimDeliveries(owner: "d", now: self.at(0.5), leaseUntil: self.at(0.6), limit: 10)
            #expect(oldClaims.count == 3)
            for message in oldClaims {
                let result: DeliveryAttemptResult =
                    switch message.subscriptionID {
                    case subscriptions[0].id: .delivered(statusCode: 200)
                    case subscriptions[1].id: .failed(statusCode: 410, error: "gone")
                    default: .retry(nextAttemptAt: self.at(200), statusCode: 503, error: "unavailable")
                    }
                try await store.recordDeliveryAttempt(event: message.event.id, subscription: message.subscriptionID, owner: "d", at: self.at(0.5), result: result)
            }
            for message in try await store.claimDeliveries(owner: "d", now: self.at(100.5), leaseUntil: self.at(100.6), limit: 10) {
                try await store.recordDeliveryAttempt(event: message.event.id, subscription: message.subscriptionID, owner: "d", at: self.at(100.5), result: .delivered(statusCode: 204))
            }

            // Hook deliveries at day 0 and day 100.2; target delivery logs at day 0 (two) and day 100.2.
            let trigger = WebhookTrigger(scheme: .standardWebhooks, credentialIDs: [], createdAt: self.t0)
            try await store.createTrigger(trigger, secret: Secret(WebhookSecret.generate().encoded))
            _ = try await store.recordHookDelivery(trigger.id, deliveryID: "old", jobs: [], at: self.t0, since: self.at(-1))
            _ = try await store.recordHookDelivery(trigger.id, deliveryID: "new", jobs: [], at: self.at(100.2), since: self.at(-1))
            let targetID = TargetID.generate()
            for time in [self.t0, self.at(0.1), self.at(100.2)] {
                try await store.recordDelivery(
                    TargetDeliveryRecord(jobID: old.id, targetID: targetID, eventType: "key.pending", attempt: 1, statusCode: 200, durationMs: 3, error: nil, at: time))
            }
            try await store.appendAudit(AuditRecord(at: self.t0, actor: "test", action: "secret.read", resource: "cred_x"))

            // Day 130, 30 days' retention: the cutoff is day 100.
            let cutoff = self.at(100)
            // Two ended deliveries of the old event, one per call with a limit of 1.
            #expect(try await store.prune(.outbox, before: cutoff, limit: 1) == 1)
            #expect(try await store.prune(.outbox, before: cutoff, limit: 1) == 1)
            #expect(try await store.prune(.outbox, before: cutoff, limit: 1) == 0)
            #expect(try await store.prune(.hookDeliveries, before: cutoff, limit: 500) == 1)
            #expect(try await store.prune(.hookDeliveries, before: cutoff, limit: 500) == 0)
            #expect(try await store.prune(.targetDeliveries, before: cutoff, limit: 500) == 2)
            #expect(try await store.prune(.targetDeliveries, before: cutoff, limit: 500) == 0)

            // What is left: the pending old delivery and every new one.
            let first = try await store.deliveries(of: subscriptions[0].id, PageRequest()).items
            #expect(first.map(\.deliveredAt) == [self.at(100.5)])
            #expect(try await store.deliveries(of: subscriptions[1].id, PageRequest()).items.map(\.state) == [.delivered])
            let third = try await store.deliveries(of: subscriptions[2].id, PageRequest()).items
            #expect(third.map(\.state).sorted { $0.rawValue < $1.rawValue } == [.delivered, .pending])
            #expect(try await store.hookDelivery(trigger.id, deliveryID: "old", since: self.at(-1)) == nil)
            #expect(try await store.hookDelivery(trigger.id, deliveryID: "new", since: self.at(-1)) == [])
            #expect(try await store.deliveries(old.id, PageRequest()).items.map(\.at) == [self.at(100.2)])
            // The audit log is never pruned.
            let audit = try await store.auditEntries(PageRequest(limit: 200)).items
            #expect(audit.contains(where: { $0.record.action == "secret.read" && $0.record.resource == "cred_x" }))
            guard case .intact = try await store.verifyAuditChain() else {
                Issue.record("the audit chain is broken")
                return
            }

            // Once the pending delivery ends too, it goes, and its event with it.
            let retried = try await store.claimDeliveries(owner: "d", now: self.at(200), leaseUntil: self.at(200.1), limit: 10)
            #expect(retried.count == 1)
            for message in retried {
                try await store.recordDeliveryAttempt(event: message.event.id, subscription: message.subscriptionID, owner: "d", at: self.at(200), result: .delivered(statusCode: 200))
            }
            #expect(try await store.prune(.outbox, before: self.at(300), limit: 500) == 4)
            for subscription in subscriptions {
                #expect(try await store.deliveries(of: subscription.id, PageRequest()).items.isEmpty)
            }
        }
    }
}
