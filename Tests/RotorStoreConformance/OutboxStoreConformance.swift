import Foundation
import RotorCore
import RotorCrypto
import RotorSQLite
import Synchronization
import Testing

/// Subscriptions and the outbox, in every store: events written in the transaction of the change they
/// report, claimed under leases, and recorded attempt by attempt.
package struct OutboxStoreConformance: Sendable {
    package init() {}

    let t0 = Sample.t0
    func at(_ seconds: Double) -> Date { self.t0.addingTimeInterval(seconds) }

    /// A store with one subscription to `events` and one credential with a queued job leased to "engine".
    private func setUp(
        _ subject: StoreUnderTest, events: [EventType] = EventType.allCases
    ) async throws -> (Subscription, Job) {
        let store = subject.store
        let subscription = Subscription(id: .generate(), url: "https://hooks.example/rotor", events: events, createdAt: self.t0)
        try await store.createSubscription(subscription, signingSecret: Secret(WebhookSecret.generate().encoded))
        let job = try await store.addJob(for: try await store.addCredential())
        #expect(try await store.claimJobs(owner: "engine", now: self.t0, leaseUntil: self.at(600), limit: 1) == [job.id])
        return (subscription, job)
    }

    /// Commits `change` applied to the stored job, as the engine does.
    private func commit(_ store: any TestedStore, _ id: JobID, credentialState: CredentialState? = nil, _ change: (inout Job) throws -> Void) async throws {
        var rotation = try await store.rotation(id)
        try change(&rotation.job)
        var credential: Credential?
        if let credentialState {
            credential = rotation.credential
            credential?.state = credentialState
        }
        try await store.commit(RotationCommit(job: rotation.job, credential: credential), owner: "engine")
    }

    private func payload(_ message: OutboxMessage) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(message.event.payload)) as? [String: Any])
    }

    package func jobEventsInTheCommit(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let (subscription, job) = try await self.setUp(subject, events: [.jobStarted, .jobSucceeded])
            let other = Subscription(id: .generate(), url: "https://other.example/hook", events: [.credentialAttention], createdAt: self.t0)
            try await store.createSubscription(other, signingSecret: Secret(WebhookSecret.generate().encoded))

            // Before anything happened: nothing to send.
            #expect(try await store.claimDeliveries(owner: "d", now: self.at(1000), leaseUntil: self.at(1060), limit: 10).isEmpty)

            try await self.commit(store, job.id) { try $0.start(at: self.at(1)) }
            // A step that changes no state reports nothing.
            try await self.commit(store, job.id) { try $0.beginAttempt(at: self.at(2)) }

            let claimed = try await store.claimDeliveries(owner: "d", now: self.at(1000), leaseUntil: self.at(1060), limit: 10)
            let message = try #require(claimed.first)
            #expect(claimed.count == 1)
            #expect(message.event.type == .jobStarted)
            #expect(message.subscriptionID == subscription.id)
            #expect(message.url == subscription.url)
            #expect(message.attempts == 0)
            #expect(message.createdAt == self.at(1))
            let body = try self.payload(message)
            #expect(body["type"] as? String == "job.started")
            let data = try #require(body["data"] as? [String: Any])
            #expect(data["job_id"] as? String == job.id.rawValue)
            #expect(data["credential_id"] as? String == job.credentialID.rawValue)
            #expect(data["state"] as? String == "running")
            #expect(try await store.deliveries(of: other.id, PageRequest()).items.isEmpty)
        }
    }

    package func refusedCommitWritesNothing(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let (subscription, job) = try await self.setUp(subject)
            let woken = Mutex(0)
            store.observeOutbox { woken.withLock { $0 += 1 } }

            var rotation = try await store.rotation(job.id)
            try rotation.job.start(at: self.at(1))
            let lost = await #expect(throws: StoreError.self) { try await store.commit(RotationCommit(job: rotation.job), owner: "intruder") }
            #expect(lost?.code == .leaseLost)
            var stale = rotation.job
            stale.revision -= 1
            let conflict = await #expect(throws: StoreError.self) { try await store.commit(RotationCommit(job: stale), owner: "engine") }
            #expect(conflict?.code == .conflict)
            #expect(try await store.deliveries(of: subscription.id, PageRequest()).items.isEmpty)
            #expect(woken.withLock { $0 } == 0)

            try await store.commit(RotationCommit(job: rotation.job), owner: "engine")
            #expect(try await store.deliveries(of: subscription.id, PageRequest()).items.map(\.type) == [.jobStarted])
            // The observer ran after the commit (and once for it).
            #expect(woken.withLock { $0 } == 1)
        }
    }

    package func failureAndCancel(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let (subscription, job) = try await self.setUp(subject)
            try await self.commit(store, job.id) { try $0.start(at: self.at(1)) }
            try await self.commit(store, job.id) { job in
                while job.step != .revoke { try job.completeStep(at: self.at(2)) }
            }
            // As the engine does: the job fails and its credential goes to attention in one commit.
            try await self.commit(store, job.id, credentialState: .attention) { job in
                try job.failStep(JobError(code: "revoke_failed", message: "The provider refused.", step: .revoke), at: self.at(3))
            }

            let queued = try await store.addJob(for: try await store.addCredential())
            _ = try await store.requestCancel(queued.id, at: self.at(4))

            let deliveries = try await store.deliveries(of: subscription.id, PageRequest()).items
            // Newest first; the failure's two events are from one commit.
            #expect(deliveries.map(\.type).first == .jobCancelled && deliveries.map(\.type).last == .jobStarted)
            #expect(Set(deliveries.map(\.type)) == [.jobCancelled, .credentialAttention, .jobFailed, .jobStarted] && deliveries.count == 4)
            #expect(deliveries.allSatisfy { $0.state == .pending && $0.attempts == 0 })
            let messages = try await store.claimDeliveries(owner: "d", now: self.at(10), leaseUntil: self.at(70), limit: 10)
            let failed = try #require(messages.first { $0.event.type == .jobFailed })
            let data = try #require(try self.payload(failed)["data"] as? [String: Any])
            #expect((data["error"] as? [String: Any])?["code"] as? String == "revoke_failed")
            let attention = try #require(messages.first { $0.event.type == .credentialAttention })
            #expect((try self.payload(attention)["data"] as? [String: Any])?["state"] as? String == "attention")
        }
    }

    package func claimAndRecord(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let (subscription, job) = try await self.setUp(subject, events: [.jobStarted, .jobCancelled])
            try await self.commit(store, job.id) { try $0.start(at: self.at(1)) }
            _ = try await store.requestCancel(job.id, at: self.at(2))
            try await self.commit(store, job.id) { try $0.completeStep(at: self.at(3)) }  // the rollback is done: cancelled

            let first = try await store.claimDeliveries(owner: "A", now: self.at(10), leaseUntil: self.at(70), limit: 1)
            #expect(first.map(\.event.type) == [.jobStarted])
            let second = try await store.claimDeliveries(owner: "A", now: self.at(10), leaseUntil: self.at(70), limit: 10)
            #expect(second.map(\.event.type) == [.jobCancelled])
            #expect(try await store.claimDeliveries(owner: "B", now: self.at(20), leaseUntil: self.at(80), limit: 10).isEmpty)

            let started = first[0].event.id, cancelled = second[0].event.id
            try await store.recordDeliveryAttempt(event: started, subscription: subscription.id, owner: "A", at: self.at(11), result: .delivered(statusCode: 204))
            try await store.recordDeliveryAttempt(
                event: cancelled, subscription: subscription.id, owner: "A", at: self.at(12),
                result: .retry(nextAttemptAt: self.at(100), statusCode: 503, error: "answered 503"))

            var deliveries = try await store.deliveries(of: subscription.id, PageRequest()).items
            let done = try #require(deliveries.first { $0.eventID == started })
            #expect(done.state == .delivered && done.attempts == 1 && done.lastStatusCode == 204 && done.deliveredAt == self.at(11) && done.nextAttemptAt == nil)
            let waiting = try #require(deliveries.first { $0.eventID == cancelled })
            #expect(waiting.state == .pending && waiting.attempts == 1 && waiting.lastStatusCode == 503 && waiting.lastError == "answered 503")
            #expect(waiting.nextAttemptAt == self.at(100) && waiting.lastAttemptAt == self.at(12))

            // Not before it is due; then with its attempt count.
            #expect(try await store.claimDeliveries(owner: "B", now: self.at(99), leaseUntil: self.at(159), limit: 10).isEmpty)
            let retried = try await store.claimDeliveries(owner: "B", now: self.at(100), leaseUntil: self.at(160), limit: 10)
            #expect(retried.map(\.event.id) == [cancelled])
            #expect(retried.first?.attempts == 1)

            // B's lease lapses; C takes over, and B's late answer is not recorded over C's.
            let takenOver = try await store.claimDeliveries(owner: "C", now: self.at(160), leaseUntil: self.at(220), limit: 10)
            #expect(takenOver.map(\.event.id) == [cancelled])
            try await store.recordDeliveryAttempt(event: cancelled, subscription: subscription.id, owner: "B", at: self.at(161), result: .delivered(statusCode: 200))
            #expect(try await store.deliveries(of: subscription.id, PageRequest()).items.first { $0.eventID == cancelled }?.state == .pending)
            try await store.recordDeliveryAttempt(
                event: cancelled, subscription: subscription.id, owner: "C", at: self.at(162),
                result: .failed(statusCode: 410, error: "answered 410"))
            deliveries = try await store.deliveries(of: subscription.id, PageRequest()).items
            let gone = try #require(deliveries.first { $0.eventID == cancelled })
            #expect(gone.state == .failed && gone.attempts == 2 && gone.lastStatusCode == 410 && gone.nextAttemptAt == nil && gone.deliveredAt == nil)
            #expect(try await store.claimDeliveries(owner: "C", now: self.at(100_000), leaseUntil: self.at(100_060), limit: 10).isEmpty)
        }
    }

    package func releaseLeases(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let (_, job) = try await self.setUp(subject)
            try await self.commit(store, job.id) { try $0.start(at: self.at(1)) }
            let claimed = try await store.claimDeliveries(owner: "A", now: self.at(2), leaseUntil: self.at(62), limit: 10)
            #expect(claimed.count == 1)
            try await store.releaseDeliveryLeases(owner: "B")
            #expect(try await store.claimDeliveries(owner: "A", now: self.at(3), leaseUntil: self.at(63), limit: 10).isEmpty)
            try await store.releaseDeliveryLeases(owner: "A")
            let again = try await store.claimDeliveries(owner: "A", now: self.at(3), leaseUntil: self.at(63), limit: 10)
            #expect(again.map(\.event.id) == claimed.map(\.event.id))
            #expect(again.first?.event.payload == claimed.first?.event.payload)
        }
    }

    package func subscriptionsAndPaging(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let secretText = WebhookSecret.generate().encoded
            var ids: [SubscriptionID] = []
            for index in 0..<3 {
                let subscription = Subscription(
                    id: .generate(), url: "https://hooks.example/\(index)", events: [.jobStarted, .jobStarted, .credentialExpiring], createdAt: self.at(Double(index)))
                try await store.createSubscription(subscription, signingSecret: Secret(secretText))
                ids.append(subscription.id)
            }
            let first = try await store.subscriptions(PageRequest(limit: 2))
            #expect(first.items.map(\.id) == Array(ids.prefix(2)))
            #expect(first.items.first?.events == [.jobStarted, .credentialExpiring])
            let second = try await store.subscriptions(PageRequest(limit: 2, cursor: first.nextCursor))
            #expect(second.items.map(\.id) == [ids[2]] && second.nextCursor == nil)
            await #expect(throws: StoreError.self) { _ = try await store.subscriptions(PageRequest(cursor: "bogus")) }

            // Three jobs start: three events for each subscription.
            for index in 0..<3 {
                let job = try await store.addJob(for: try await store.addCredential())
                _ = try await store.claimJobs(owner: "engine", now: self.t0, leaseUntil: self.at(600), limit: 10)
                try await self.commit(store, job.id) { try $0.start(at: self.at(Double(10 + index))) }
            }
            let page1 = try await store.deliveries(of: ids[0], PageRequest(limit: 2))
            let page2 = try await store.deliveries(of: ids[0], PageRequest(limit: 2, cursor: page1.nextCursor))
            let times = (page1.items + page2.items).map(\.createdAt)
            #expect(times == [self.at(12), self.at(11), self.at(10)])
            #expect(page2.nextCursor == nil)

            try await store.deleteSubscription(ids[0])
            #expect(try await store.subscription(ids[0]) == nil)
            await #expect(throws: StoreError.self) { _ = try await store.deliveries(of: ids[0], PageRequest()) }
            let missing = await #expect(throws: StoreError.self) { try await store.deleteSubscription(ids[0]) }
            #expect(missing?.code == .notFound)
            // The others still get theirs.
            #expect(try await store.claimDeliveries(owner: "d", now: self.at(100), leaseUntil: self.at(160), limit: 50).count == 6)

            // The signing secret is in the file only as an envelope.
            let stored = Data(try await subject.storedBytes())
            for file in [stored] {
                #expect(file.range(of: Data(secretText.utf8)) == nil)
                #expect(file.range(of: Data(secretText.dropFirst(6).utf8)) == nil)
            }
        }
    }

    package func expiring(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let subscription = Subscription(id: .generate(), url: "https://hooks.example/x", events: [.credentialExpiring], createdAt: self.t0)
            try await store.createSubscription(subscription, signingSecret: Secret(WebhookSecret.generate().encoded))

            // Sample keys expire 90 days after t0.
            var watched = Sample.credential()
            watched.schedule = Schedule(beforeExpiry: ISODuration(seconds: 7 * 86_400))
            try await store.createCredential(watched, secrets: Sample.secrets(for: watched))
            var unwatched = Sample.credential()
            unwatched.schedule = Schedule(every: ISODuration(seconds: 30 * 86_400))
            try await store.createCredential(unwatched, secrets: Sample.secrets(for: unwatched))
            _ = try await store.addCredential()  // no schedule at all

            #expect(try await store.enqueueExpiringEvents(at: self.at(82 * 86_400)) == 0)
            #expect(try await store.enqueueExpiringEvents(at: self.at(83 * 86_400)) == 1)
            #expect(try await store.enqueueExpiringEvents(at: self.at(84 * 86_400)) == 0)
            #expect(try await store.enqueueExpiringEvents(at: self.at(100 * 86_400)) == 0)

            let messages = try await store.claimDeliveries(owner: "d", now: self.at(100 * 86_400), leaseUntil: self.at(100 * 86_400 + 60), limit: 10)
            let message = try #require(messages.first)
            #expect(messages.count == 1 && message.event.type == .credentialExpiring)
            let data = try #require(try self.payload(message)["data"] as? [String: Any])
            #expect(data["credential_id"] as? String == watched.id.rawValue)
            #expect(data["provider_key_id"] as? String == watched.current.providerKeyID)
            #expect(data["before_expiry"] as? String == "P7D")
            #expect(data["expires_at"] as? String != nil)

            // A new key is a new notice.
            watched.current = Sample.key("key-next", at: self.at(100 * 86_400))
            try await store.updateCredential(watched, signingSecrets: nil)
            #expect(try await store.enqueueExpiringEvents(at: self.at(100 * 86_400)) == 0)
            #expect(try await store.enqueueExpiringEvents(at: self.at(185 * 86_400)) == 1)
        }
    }
}
