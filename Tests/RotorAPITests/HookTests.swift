import FakeVultr
import Foundation
import NIOHTTP1
import RotorCore
import RotorCrypto
import RotorSQLite
import Testing

/// `POST /v1/hooks/{id}` over real sockets, with the engine rotating against FakeVultr.
@Suite(.timeLimit(.minutes(1))) struct HookTests {
    static let payload = Array(#"{"type":"ci.deploy","data":{"pipeline":42}}"#.utf8)

    /// Creates a trigger for the live credential; its id and secret.
    static func createTrigger(_ rotor: LiveRotor, scheme: String = "standard-webhooks") async throws -> (id: String, secret: String) {
        let created = try await rotor.api(.POST, "/v1/triggers", json: #"{"scheme":"\#(scheme)","credential_ids":["\#(rotor.credential.id)"]}"#)
        try #require(created.status == .created, "\(created.body)")
        return (try #require(created.object["id"] as? String), try #require(created.object["secret"] as? String))
    }

    /// Standard Webhooks headers signing `body` with `secret`.
    static func standardHeaders(id: String = UUID().uuidString, timestamp: Int = Int(Date().timeIntervalSince1970), body: [UInt8] = payload, secret: String) throws -> [(String, String)] {
        [
            ("webhook-id", id), ("webhook-timestamp", String(timestamp)),
            ("webhook-signature", StandardWebhooks.sign(id: id, timestamp: timestamp, body: body, secret: try WebhookSecret(encoded: secret))),
            ("Content-Type", "application/json"),
        ]
    }

    @Test("a Standard-Webhooks-signed hook starts a rotation (trigger webhook, source the trigger) that succeeds")
    func standardHookRotates() async throws {
        try await LiveRotor.run { rotor in
            let trigger = try await Self.createTrigger(rotor)
            #expect(trigger.secret.hasPrefix("whsec_"))
            // Two signatures, the first by another secret: any one matching is enough.
            var headers = try Self.standardHeaders(secret: trigger.secret)
            let other = StandardWebhooks.sign(id: headers[0].1, timestamp: Int(headers[1].1)!, body: Self.payload, secret: .generate())
            headers[2].1 = other + " " + headers[2].1
            let reply = try await rotor.send(.POST, "/v1/hooks/\(trigger.id)", body: Self.payload, headers: headers)
            #expect(reply.status == .accepted, "\(reply.body)")
            #expect(reply.object["replayed"] as? Bool == false)
            let jobID = try #require(reply.jobIDs.first)
            #expect(reply.jobIDs.count == 1)
            let job = try await rotor.finished(jobID)
            #expect(job["state"] as? String == "succeeded")
            #expect((job["trigger"] as? [String: String]) == ["kind": "webhook", "source": trigger.id])
            #expect(rotor.fake.key(id: rotor.credential.current.providerKeyID) == nil)
            #expect(try await rotor.store.credential(rotor.credential.id)?.version == 2)

            // Audited: the trigger's creation (admin), then the hook call and the job it started
            // (as the trigger), then the job's outcome (the engine).
            let entries = try await rotor.store.auditEntries(PageRequest(limit: 50)).items.map(\.record)
            let actions = entries.map { "\($0.actor) \($0.action) \($0.resource)" }
            #expect(actions == [
                "admin trigger.create \(trigger.id)",
                "trigger:\(trigger.id) job.create \(jobID)",
                "trigger:\(trigger.id) trigger.hook \(trigger.id)",
                "engine job.succeeded \(jobID)",
            ], "\(actions)")
            #expect(try await rotor.store.verifyAuditChain() == .intact(count: 4))
        }
    }

    @Test("a GitHub-signed hook (X-Hub-Signature-256) starts a rotation that succeeds; its X-GitHub-Delivery is the replay key")
    func githubHookRotates() async throws {
        try await LiveRotor.run { rotor in
            let trigger = try await Self.createTrigger(rotor, scheme: "github")
            #expect(trigger.secret.count == 64)
            let signature = GitHubWebhookSignature.sign(body: Self.payload, secret: WebhookSecret(keyBytes: Array(trigger.secret.utf8)))
            let headers = [("X-Hub-Signature-256", signature), ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"), ("X-GitHub-Event", "push")]
            let reply = try await rotor.send(.POST, "/v1/hooks/\(trigger.id)", body: Self.payload, headers: headers)
            #expect(reply.status == .accepted, "\(reply.body)")
            let jobID = try #require(reply.jobIDs.first)
            #expect(try await rotor.finished(jobID)["state"] as? String == "succeeded")

            let again = try await rotor.send(.POST, "/v1/hooks/\(trigger.id)", body: Self.payload, headers: headers)
            #expect(again.status == .accepted)
            #expect(again.jobIDs == [jobID])
            #expect(again.object["replayed"] as? Bool == true)
            #expect(try await rotor.allJobs().count == 1)

            let unsignedDelivery = try await rotor.send(.POST, "/v1/hooks/\(trigger.id)", body: Self.payload, headers: [headers[0]])
            #expect(unsignedDelivery.status == .badRequest)
            #expect(try await rotor.allJobs().count == 1)
        }
    }

    @Test("bad, missing, stale (> 5 min old) and future (> 5 min ahead) signatures get 401 signature_invalid and start nothing")
    func badSignatures() async throws {
        try await LiveRotor.run { rotor in
            let standard = try await Self.createTrigger(rotor)
            let github = try await Self.createTrigger(rotor, scheme: "github")
            let now = Int(Date().timeIntervalSince1970)
            let good = try Self.standardHeaders(secret: standard.secret)
            var tamperedBody = Self.payload
            tamperedBody[tamperedBody.count - 2] ^= 0x01
            var wrongSignature = good
            wrongSignature[2].1 = StandardWebhooks.sign(id: good[0].1, timestamp: Int(good[1].1)!, body: Self.payload, secret: .generate())
            let githubSignature = GitHubWebhookSignature.sign(body: Self.payload, secret: WebhookSecret(keyBytes: Array(github.secret.utf8)))
            let cases: [(String, String, [UInt8], [(String, String)])] = [
                ("wrong secret", standard.id, Self.payload, wrongSignature),
                ("changed body byte", standard.id, tamperedBody, good),
                ("no signature header", standard.id, Self.payload, good.filter { $0.0 != "webhook-signature" }),
                ("no headers at all", standard.id, Self.payload, []),
                ("stale: 5½ min old", standard.id, Self.payload, try Self.standardHeaders(timestamp: now - 330, secret: standard.secret)),
                ("future: 5½ min ahead", standard.id, Self.payload, try Self.standardHeaders(timestamp: now + 330, secret: standard.secret)),
                ("not v1", standard.id, Self.payload, good.map { $0.0 == "webhook-signature" ? ($0.0, "v2," + $0.1.dropFirst(3)) : $0 }),
                ("github: wrong secret", github.id, Self.payload, [("X-Hub-Signature-256", GitHubWebhookSignature.sign(body: Self.payload, secret: .generate())), ("X-GitHub-Delivery", "d1")]),
                ("github: changed body byte", github.id, tamperedBody, [("X-Hub-Signature-256", githubSignature), ("X-GitHub-Delivery", "d2")]),
                ("github: missing", github.id, Self.payload, [("X-GitHub-Delivery", "d3")]),
                ("github: not hex", github.id, Self.payload, [("X-Hub-Signature-256", "sha256=zz"), ("X-GitHub-Delivery", "d4")]),
                ("standard headers on a github trigger", github.id, Self.payload, good),
            ]
            for (name, trigger, body, headers) in cases {
                let reply = try await rotor.send(.POST, "/v1/hooks/\(trigger)", body: body, headers: headers)
                #expect(reply.status == .unauthorized, "\(name): \(reply.body)")
                #expect(reply.code == "signature_invalid", "\(name)")
                #expect(reply.headers.first(name: "Content-Type") == "application/problem+json")
            }
            #expect(try await rotor.allJobs().isEmpty)
            #expect(try await rotor.store.credential(rotor.credential.id)?.state == .active)
            // Well-signed requests, also 4 minutes off either way, still work (so the 401s were about the signatures).
            #expect(try await rotor.send(.POST, "/v1/hooks/\(standard.id)", body: Self.payload, headers: good).status == .accepted)
            for skew in [-240, 240] {
                let headers = try Self.standardHeaders(timestamp: now + skew, secret: standard.secret)
                #expect(try await rotor.send(.POST, "/v1/hooks/\(standard.id)", body: Self.payload, headers: headers).status == .accepted)
            }
        }
    }

    @Test("a replay of a delivery id answers the first result and starts nothing, also after the job finished")
    func replay() async throws {
        try await LiveRotor.run { rotor in
            let trigger = try await Self.createTrigger(rotor)
            let headers = try Self.standardHeaders(id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", secret: trigger.secret)
            let first = try await rotor.send(.POST, "/v1/hooks/\(trigger.id)", body: Self.payload, headers: headers)
            let jobID = try #require(first.jobIDs.first)
            let second = try await rotor.send(.POST, "/v1/hooks/\(trigger.id)", body: Self.payload, headers: headers)
            #expect(second.status == .accepted)
            #expect(second.jobIDs == [jobID])
            #expect(second.object["replayed"] as? Bool == true)
            #expect(try await rotor.finished(jobID)["state"] as? String == "succeeded")
            let third = try await rotor.send(.POST, "/v1/hooks/\(trigger.id)", body: Self.payload, headers: headers)
            #expect(third.jobIDs == [jobID])
            #expect(try await rotor.allJobs().count == 1)
            #expect(try await rotor.store.credential(rotor.credential.id)?.version == 2)
            // A new delivery id is a new request: it rotates again.
            let fresh = try await rotor.send(.POST, "/v1/hooks/\(trigger.id)", body: Self.payload, headers: try Self.standardHeaders(secret: trigger.secret))
            let freshID = try #require(fresh.jobIDs.first)
            #expect(freshID != jobID)
            #expect(try await rotor.finished(freshID)["state"] as? String == "succeeded")
        }
    }

    @Test("a hook for a credential with an active job joins that job")
    func joinsActiveJob() async throws {
        try await LiveRotor.run { rotor in
            let trigger = try await Self.createTrigger(rotor)
            // A long grace period keeps the API-started job active.
            let started = try await rotor.api(.POST, "/v1/jobs", json: #"{"credential_id":"\#(rotor.credential.id)","grace_period":"PT60S"}"#)
            let active = try #require(started.object["id"] as? String)
            let reply = try await rotor.send(.POST, "/v1/hooks/\(trigger.id)", body: Self.payload, headers: try Self.standardHeaders(secret: trigger.secret))
            #expect(reply.status == .accepted)
            #expect(reply.jobIDs == [active])
            #expect(reply.object["replayed"] as? Bool == false)
            #expect(try await rotor.allJobs().count == 1)
            #expect(try await rotor.api(.POST, "/v1/jobs/\(active)/cancel").status == .accepted)
            #expect(try await rotor.finished(active)["state"] as? String == "cancelled")
        }
    }

    @Test("an unknown trigger is answered as a wrong signature is (no probing of ids); a hook needs no bearer token but a trigger route does")
    func routing() async throws {
        try await LiveRotor.run { rotor in
            let unknown = try await rotor.send(.POST, "/v1/hooks/trg_00000000000000000000000000", body: Self.payload, headers: try Self.standardHeaders(secret: WebhookSecret.generate().encoded))
            #expect(unknown.status == .unauthorized)
            #expect(unknown.code == "signature_invalid")
            // Exactly what a known trigger answers to a signature made with the wrong secret.
            let known = try await Self.createTrigger(rotor)
            let wrong = try await rotor.send(.POST, "/v1/hooks/\(known.id)", body: Self.payload, headers: try Self.standardHeaders(secret: WebhookSecret.generate().encoded))
            #expect(wrong.status == unknown.status && wrong.code == unknown.code && wrong.object["detail"] as? String == unknown.object["detail"] as? String)
            let unauthenticated = try await rotor.send(.GET, "/v1/triggers")
            #expect(unauthenticated.status == .unauthorized)
            #expect(unauthenticated.code == "unauthorized")
        }
    }
}
