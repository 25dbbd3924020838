import Foundation
import NIOHTTP1
import RotorAPI
import RotorCore
import RotorCrypto
import RotorSQLite
import Testing

/// `POST /v1/credentials/{id}/targets/{target_id}/roll-secret` and `GET /v1/jobs/{id}/deliveries`.
@Suite struct TargetRouteTests {
    static let clock = StillClock()

    /// A credential with one target whose secret Rotor generated: (credential id, target id, secret).
    static func credential(_ api: APIHarness) async throws -> (String, String, String) {
        let created = try await CredentialRouteTests.create(api)
        let target = try #require((created.reply.object["targets"] as? [[String: Any]])?.first)
        return (try #require(created.reply["id"]), try #require(target["id"] as? String), try #require(target["signing_secret"] as? String))
    }

    @Test("roll-secret: a new whsec_ secret shown once, the old one kept for the overlap (default PT24H)")
    func rollWithOverlap() async throws {
        try await APIHarness.run(clock: Self.clock) { api in
            let (id, targetID, old) = try await Self.credential(api)
            let rolled = try await api.send(.POST, "/v1/credentials/\(id)/targets/\(targetID)/roll-secret")
            #expect(rolled.status == .ok, "\(rolled)")
            let secret = try #require(rolled["signing_secret"])
            #expect(secret.hasPrefix("whsec_") && secret != old)
            #expect((try? WebhookSecret(encoded: secret)) != nil)
            #expect(rolled["id"] == targetID)
            #expect(rolled["previous_secret_expires_at"] == ISO8601DateFormatter().string(from: Self.clock.instant.addingTimeInterval(86_400)))

            // Never shown again; the overlap's end is.
            let fetched = try await api.send(.GET, "/v1/credentials/\(id)")
            #expect(!fetched.body.contains("signing_secret"))
            #expect(!fetched.body.contains(secret))
            let target = try #require((fetched.object["targets"] as? [[String: Any]])?.first)
            #expect(target["previous_secret_expires_at"] as? String == rolled["previous_secret_expires_at"])

            let stored = try await api.store.credentialSecrets(try #require(CredentialID(id)))
            let tid = try #require(TargetID(targetID))
            #expect(stored.signingSecrets[tid]?.reveal() == secret)
            #expect(stored.previousSigningSecrets[tid]?.reveal() == old)

            let shortened = try await api.send(.POST, "/v1/credentials/\(id)/targets/\(targetID)/roll-secret", json: ["overlap": "PT1H"])
            #expect(shortened["previous_secret_expires_at"] == ISO8601DateFormatter().string(from: Self.clock.instant.addingTimeInterval(3600)))
            // The previous secret is now the one the first roll made.
            #expect(try await api.store.credentialSecrets(try #require(CredentialID(id))).previousSigningSecrets[tid]?.reveal() == secret)
        }
    }

    @Test("roll-secret with overlap PT0S drops the old secret at once")
    func rollWithoutOverlap() async throws {
        try await APIHarness.run(clock: Self.clock) { api in
            let (id, targetID, _) = try await Self.credential(api)
            let rolled = try await api.send(.POST, "/v1/credentials/\(id)/targets/\(targetID)/roll-secret", json: ["overlap": "PT0S"])
            #expect(rolled.status == .ok, "\(rolled)")
            #expect(rolled.object["previous_secret_expires_at"] is NSNull)
            let stored = try await api.store.credentialSecrets(try #require(CredentialID(id)))
            #expect(stored.previousSigningSecrets.isEmpty)
            #expect(stored.signingSecrets.values.map { $0.reveal() } == [rolled["signing_secret"]])
        }
    }

    @Test("roll-secret rejects a bad overlap (422), an unknown target or credential (404), a non-JSON body (415), and changes nothing")
    func rollRejects() async throws {
        try await APIHarness.run(clock: Self.clock) { api in
            let (id, targetID, old) = try await Self.credential(api)
            let path = "/v1/credentials/\(id)/targets/\(targetID)/roll-secret"
            for overlap: Any in ["P31D", "P1M", "soon", 5] {
                let reply = try await api.send(.POST, path, json: ["overlap": overlap])
                #expect(reply.status == .unprocessableEntity, "\(overlap): \(reply)")
                #expect(reply.code == "invalid_request")
                #expect(reply.fields == ["overlap"])
            }
            let unknownTarget = try await api.send(.POST, "/v1/credentials/\(id)/targets/\(TargetID.generate().rawValue)/roll-secret")
            #expect(unknownTarget.status == .notFound && unknownTarget.code == "not_found")
            let unknownCredential = try await api.send(.POST, "/v1/credentials/\(CredentialID.generate().rawValue)/targets/\(targetID)/roll-secret")
            #expect(unknownCredential.status == .notFound)
            let text = try await api.send(.POST, path, body: "overlap=PT1H", contentType: "text/plain")
            #expect(text.status == .unsupportedMediaType)
            let unauthenticated = try await api.send(.POST, path, token: nil)
            #expect(unauthenticated.status == .unauthorized)

            let stored = try await api.store.credentialSecrets(try #require(CredentialID(id)))
            #expect(stored.signingSecrets.values.map { $0.reveal() } == [old])
            #expect(stored.previousSigningSecrets.isEmpty)
        }
    }

    @Test("GET /v1/jobs/{id}/deliveries lists attempts in order with status, duration and error, in pages")
    func deliveriesListed() async throws {
        try await APIHarness.run(clock: Self.clock) { api in
            let (id, targetID, _) = try await Self.credential(api)
            let job = try await api.send(.POST, "/v1/jobs", json: ["credential_id": id])
            let jobID = try #require(job["id"])
            let log = try #require(api.store as? SQLiteStore)
            let at = Self.clock.instant
            try await log.recordDelivery(TargetDeliveryRecord(
                jobID: try #require(JobID(jobID)), targetID: try #require(TargetID(targetID)), eventType: "key.pending", attempt: 1,
                statusCode: nil, durationMs: 10_000, error: "no answer (timeout)", at: at
            ))
            try await log.recordDelivery(TargetDeliveryRecord(
                jobID: try #require(JobID(jobID)), targetID: try #require(TargetID(targetID)), eventType: "key.pending", attempt: 2,
                statusCode: 204, durationMs: 12, error: nil, at: at
            ))

            let all = try await api.send(.GET, "/v1/jobs/\(jobID)/deliveries")
            #expect(all.status == .ok, "\(all)")
            let rows = try #require(all.object["data"] as? [[String: Any]])
            #expect(rows.count == 2)
            #expect(rows.first?.keys.sorted() == ["at", "attempt", "duration_ms", "error", "event_type", "job_id", "seq", "status_code", "target_id"])
            #expect(rows.first?["status_code"] is NSNull)
            #expect(rows.last?["status_code"] as? Int == 204)
            #expect(rows.last?["error"] is NSNull)
            #expect(rows.map { $0["attempt"] as? Int } == [1, 2])
            #expect(all.object["next_cursor"] is NSNull)

            let first = try await api.send(.GET, "/v1/jobs/\(jobID)/deliveries?limit=1")
            let cursor = try #require(first["next_cursor"])
            let second = try await api.send(.GET, "/v1/jobs/\(jobID)/deliveries?limit=1&cursor=\(cursor)")
            #expect((second.object["data"] as? [[String: Any]])?.first?["attempt"] as? Int == 2)
            #expect(second.object["next_cursor"] is NSNull)

            let badCursor = try await api.send(.GET, "/v1/jobs/\(jobID)/deliveries?cursor=nonsense")
            #expect(badCursor.status == .unprocessableEntity)
            let missing = try await api.send(.GET, "/v1/jobs/\(JobID.generate().rawValue)/deliveries")
            #expect(missing.status == .notFound)
        }
    }
}
