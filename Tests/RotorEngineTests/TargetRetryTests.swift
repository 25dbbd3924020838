import FakeVultr
import Foundation
import NIOHTTP1
import RotorCore
import RotorCrypto
import RotorEngine
import RotorSQLite
import Testing

/// Targets, completed: per-target retries inside `distribute` and `verify`, the delivery log,
/// and deliveries signed with both secrets while a target's secret is being rolled.
@Suite(.timeLimit(.minutes(1))) struct TargetRetryTests {
    @Test("a target answering 503 twice then 200 gets the key on the third attempt, within one distribute attempt, all three recorded")
    func retriedWithinTheStep() async throws {
        try await EngineHarness.with { h in
            let (credential, targetID) = try await h.makeCredential()
            h.receiver.answer("/hook", withSequence: [.serviceUnavailable, .serviceUnavailable])
            let id = try await h.rotate(credential)
            let job = try await h.waitFor(id)
            #expect(job.state == .succeeded)
            let target = try #require(job.targets.first)
            #expect(target.targetID == targetID)
            #expect(target.attempts == 3)
            #expect(target.state == .verified)
            #expect(target.lastError == nil)

            let pending = try await h.store.deliveries(id, PageRequest()).items.filter { $0.eventType == "key.pending" }
            #expect(pending.map(\.attempt) == [1, 2, 3])
            #expect(pending.map(\.statusCode) == [503, 503, 200])
            #expect(pending.map { $0.error != nil } == [true, true, false])
            #expect(pending.allSatisfy { $0.targetID == targetID && $0.durationMs >= 0 })
            // The retries happened inside the step: one attempt at distribute, no step-level retry.
            let events = try await h.store.events(id)
            #expect(events.filter { $0.type == "step.started" && $0.step == .distribute }.count == 1)
            #expect(!events.contains { $0.type == "step.retry" })
            // The receiver saw the same delivery id three times (receivers deduplicate on it).
            let ids = h.receiver.all.filter { $0.type == "key.pending" }.compactMap { $0.headers["webhook-id"].first }
            #expect(ids.count == 3 && Set(ids).count == 1)
        }
    }

    @Test("a 400 is a permanent failure: no retry, the job rolls back, the attempt is recorded with its status")
    func permanentFailureRollsBack() async throws {
        try await EngineHarness.with { h in
            let (credential, _) = try await h.makeCredential()
            h.receiver.answer("/hook", with: .badRequest)
            let id = try await h.rotate(credential)
            let job = try await h.waitFor(id)
            #expect(job.state == .rolledBack)
            #expect(job.error?.code == "target_failed")
            #expect(job.targets.first?.state == .failed)
            #expect(job.targets.first?.attempts == 1)
            #expect(job.targets.first?.lastError == "answered 400")
            let records = try await h.store.deliveries(id, PageRequest()).items
            #expect(records.map(\.eventType) == ["key.pending"])
            #expect(records.first?.statusCode == 400)
            #expect(h.fake.keys(ofUser: h.userID).map(\.id) == [h.originalKey.id])
        }
    }

    @Test("a target that stays unavailable uses up its attempts (the retry policy's 4) and the job rolls back")
    func exhaustedRetriesRollBack() async throws {
        try await EngineHarness.with { h in
            let (credential, _) = try await h.makeCredential()
            h.receiver.answer("/hook", with: .serviceUnavailable)
            let id = try await h.rotate(credential)
            let job = try await h.waitFor(id)
            #expect(job.state == .rolledBack)
            #expect(job.error?.code == "retries_exhausted")
            #expect(job.targets.first?.attempts == 4)
            let statuses = try await h.store.deliveries(id, PageRequest()).items.filter { $0.eventType == "key.pending" }.map(\.statusCode)
            #expect(statuses == [503, 503, 503, 503])
        }
    }

    @Test("verify_url checks are retried per target too, and recorded as event type verify")
    func verifyRetried() async throws {
        try await EngineHarness.with { h in
            let (credential, _) = try await h.makeCredential()
            h.receiver.answer("/verify", withSequence: [.badGateway])
            let id = try await h.rotate(credential)
            let job = try await h.waitFor(id)
            #expect(job.state == .succeeded)
            let checks = try await h.store.deliveries(id, PageRequest()).items.filter { $0.eventType == "verify" }
            #expect(checks.map(\.statusCode) == [502, 200])
            #expect(checks.map(\.attempt) == [1, 2])
            #expect(try await h.store.events(id).filter { $0.type == "step.started" && $0.step == .verify }.count == 1)
            let all = try await h.store.deliveries(id, PageRequest()).items
            #expect(all.map(\.seq) == Array(1...all.count))
            #expect(all.map(\.eventType).last == "key.revoked")
        }
    }

    @Test("during a roll's overlap a delivery carries two signatures, each verifying with its own secret only")
    func overlapSignsWithBothSecrets() async throws {
        try await EngineHarness.with { h in
            let (credential, targetID) = try await h.makeCredential()
            let old = h.signing
            let new = WebhookSecret.generate()
            let rolled = try await h.store.rollSigningSecret(
                credential: credential.id, target: targetID, to: Secret(new.encoded), overlapUntil: Date().addingTimeInterval(3600), at: Date()
            )
            #expect(rolled.targets.first?.previousSecretExpiresAt != nil)
            let secrets = try await h.store.credentialSecrets(credential.id)
            #expect(secrets.signingSecrets[targetID]?.reveal() == new.encoded)
            #expect(secrets.previousSigningSecrets[targetID]?.reveal() == old.encoded)

            let job = try await h.waitFor(try await h.rotate(rolled))
            #expect(job.state == .succeeded)
            let delivery = try #require(h.receiver.all.first { $0.type == "key.pending" })
            let id = try #require(delivery.headers["webhook-id"].first)
            let timestamp = try #require(delivery.headers["webhook-timestamp"].first)
            let signatures = try #require(delivery.headers["webhook-signature"].first).split(separator: " ").map(String.init)
            #expect(signatures.count == 2)
            func verifies(_ signature: String, _ secret: WebhookSecret) -> Bool {
                (try? StandardWebhooks.verify(id: id, timestamp: timestamp, signatureHeader: signature, body: delivery.body, secrets: [secret], now: Date())) != nil
            }
            #expect(verifies(signatures[0], new) && !verifies(signatures[0], old))
            #expect(verifies(signatures[1], old) && !verifies(signatures[1], new))
            // The whole header verifies for a receiver that knows either secret.
            for secret in [old, new] {
                #expect(verifies(signatures.joined(separator: " "), secret))
            }
        }
    }

    @Test("after the overlap (or a roll without one) deliveries carry only the new secret's signature")
    func noOverlapSignsOnce() async throws {
        try await EngineHarness.with { h in
            let (credential, targetID) = try await h.makeCredential()
            let new = WebhookSecret.generate()
            let rolled = try await h.store.rollSigningSecret(credential: credential.id, target: targetID, to: Secret(new.encoded), overlapUntil: nil, at: Date())
            #expect(rolled.targets.first?.previousSecretExpiresAt == nil)
            #expect(try await h.store.credentialSecrets(credential.id).previousSigningSecrets.isEmpty)
            let job = try await h.waitFor(try await h.rotate(rolled))
            #expect(job.state == .succeeded)
            let delivery = try #require(h.receiver.all.first { $0.type == "key.pending" })
            let header = try #require(delivery.headers["webhook-signature"].first)
            #expect(!header.contains(" "))
            try StandardWebhooks.verify(
                id: try #require(delivery.headers["webhook-id"].first), timestamp: try #require(delivery.headers["webhook-timestamp"].first),
                signatureHeader: header, body: delivery.body, secrets: [new], now: Date()
            )
            let id = try #require(delivery.headers["webhook-id"].first)
            let timestamp = try #require(delivery.headers["webhook-timestamp"].first)
            #expect(throws: StandardWebhooks.Failure.invalidSignature) {
                try StandardWebhooks.verify(id: id, timestamp: timestamp, signatureHeader: header, body: delivery.body, secrets: [h.signing], now: Date())
            }
        }
    }
}
