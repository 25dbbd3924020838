import Foundation
import RotorCore
import RotorCrypto
import RotorSQLite
import Testing

/// The counts `GET /metrics` reads at each scrape.
package struct MetricsStoreConformance: Sendable {
    package init() {}

    private let t0 = Sample.t0
    private func at(_ seconds: TimeInterval) -> Date { self.t0.addingTimeInterval(seconds) }

    package func jobCounts(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            #expect(try await store.jobCounts().isEmpty)

            let queued = try await store.addJob(for: try await store.addCredential())
            let moving = try await store.addJob(for: try await store.addCredential())
            let failing = try await store.addJob(for: try await store.addCredential())
            _ = queued
            let claimed = try await store.claimJobs(owner: "engine", now: self.t0, leaseUntil: self.at(600), limit: 10)
            #expect(Set(claimed) == [queued.id, moving.id, failing.id])
            // The claim leases jobs; they stay queued until the runner commits their start.
            for id in [moving.id, failing.id] {
                var rotation = try await store.rotation(id)
                try rotation.job.start(at: self.at(1))
                try await store.commit(RotationCommit(job: rotation.job), owner: "engine")
            }
            var rotation = try await store.rotation(moving.id)
            try rotation.job.beginAttempt(at: self.at(2))
            try rotation.job.completeStep(at: self.at(3))  // create → distribute
            try await store.commit(RotationCommit(job: rotation.job), owner: "engine")
            rotation = try await store.rotation(failing.id)
            _ = try rotation.job.failStep(JobError(code: "x", message: "refused", step: .create), at: self.at(2))  // → rolling back
            try await store.commit(RotationCommit(job: rotation.job), owner: "engine")
            rotation = try await store.rotation(failing.id)
            try rotation.job.beginAttempt(at: self.at(3))
            try rotation.job.completeStep(at: self.at(4))  // rollback done → rolled_back
            try await store.commit(RotationCommit(job: rotation.job), owner: "engine")

            let counts = Set(try await store.jobCounts())
            #expect(
                counts == [
                    JobCount(state: .queued, step: .create, count: 1),
                    JobCount(state: .running, step: .distribute, count: 1),
                    JobCount(state: .rolledBack, step: nil, count: 1),
                ]
            )
        }
    }

    package func pendingDeliveries(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            #expect(try await store.pendingDeliveryCount() == 0)
            for index in 0..<2 {
                let subscription = Subscription(id: .generate(), url: "https://hooks.example/\(index)", events: [.jobStarted], createdAt: self.t0)
                try await store.createSubscription(subscription, signingSecret: Secret(WebhookSecret.generate().encoded))
            }
            let job = try await store.addJob(for: try await store.addCredential())
            _ = try await store.claimJobs(owner: "engine", now: self.t0, leaseUntil: self.at(600), limit: 1)
            var rotation = try await store.rotation(job.id)
            try rotation.job.start(at: self.at(1))
            try await store.commit(RotationCommit(job: rotation.job), owner: "engine")
            #expect(try await store.pendingDeliveryCount() == 2)  // job.started, once per subscription

            let claimed = try await store.claimDeliveries(owner: "d", now: self.at(10), leaseUntil: self.at(70), limit: 1)
            let message = try #require(claimed.first)
            // Leased but not yet sent: still pending.
            #expect(try await store.pendingDeliveryCount() == 2)
            try await store.recordDeliveryAttempt(
                event: message.event.id, subscription: message.subscriptionID, owner: "d", at: self.at(11), result: .delivered(statusCode: 204)
            )
            #expect(try await store.pendingDeliveryCount() == 1)
        }
    }
}
