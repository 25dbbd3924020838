import FakeVultr
import Foundation
import NIOHTTP1
import RotorAPI
import RotorCore
import RotorCrypto
import RotorSQLite
import Testing

/// `POST /v1/leaks/github` over real sockets, signed by an `openssl`-made P-256 key the way
/// GitHub secret scanning signs, with the engine rotating against FakeVultr.
@Suite(.timeLimit(.minutes(1))) struct LeakTests {
    static func report(_ tokens: [(token: String, type: String)]) throws -> [UInt8] {
        let items = tokens.map { ["token": $0.token, "type": $0.type, "url": "https://github.com/octo/repo/blob/abc/config.env", "source": "content"] }
        return Array(try JSONSerialization.data(withJSONObject: items))
    }

    static func headers(_ signer: GitHubSigner, _ body: [UInt8]) async throws -> [(String, String)] {
        [("Github-Public-Key-Identifier", signer.identifier), ("Github-Public-Key-Signature", try await signer.sign(body)), ("Content-Type", "application/json")]
    }

    @Test("a leaked current key starts an emergency rotation (trigger leak, grace 0) that succeeds; an unknown token is false_positive; afterwards the old key no longer matches and the new one does")
    func leakRotates() async throws {
        let signer = try await GitHubSigner()
        defer { signer.remove() }
        try await LiveRotor.run(githubKeys: try signer.keySet()) { rotor in
            let body = try Self.report([(rotor.apiKey, "vultr_api_key"), ("not-a-key-we-manage", "generic")])
            let reply = try await rotor.send(.POST, "/v1/leaks/github", body: body, headers: try await Self.headers(signer, body))
            #expect(reply.status == .ok, "\(reply.body)")
            let labels = try #require(reply.json as? [[String: String]])
            #expect(labels == [
                ["token_hash": SHA256.hexDigest(rotor.apiKey), "token_type": "vultr_api_key", "label": "true_positive"],
                ["token_hash": SHA256.hexDigest("not-a-key-we-manage"), "token_type": "generic", "label": "false_positive"],
            ])
            #expect(!reply.body.contains(rotor.apiKey))

            let jobs = try await rotor.allJobs()
            let job = try #require(jobs.first)
            #expect(jobs.count == 1)
            #expect(job.trigger == Trigger(kind: .leak, source: "https://github.com/octo/repo/blob/abc/config.env"))
            #expect(job.gracePeriod == .zero)
            let finished = try await rotor.finished(job.id.rawValue)
            #expect(finished["state"] as? String == "succeeded")
            #expect(finished["grace_period"] as? String == "PT0S")
            #expect(rotor.fake.key(id: rotor.credential.current.providerKeyID) == nil)
            // Audited as the scanner's doing, without the token or its hash.
            let audit = try await rotor.store.auditEntries(PageRequest(limit: 50))
            let actions = audit.items.map { "\($0.record.actor) \($0.record.action) \($0.record.resource) \($0.record.outcome)" }
            #expect(actions == [
                "github-secret-scanning leak.report unmatched false_positive",
                "github-secret-scanning leak.report \(rotor.credential.id) true_positive",
                "github-secret-scanning job.create \(job.id) success",
                "engine job.succeeded \(job.id) success",
            ], "\(actions)")
            #expect(!actions.joined().contains(SHA256.hexDigest(rotor.apiKey)))

            // The index moved with the rotation's commit.
            let newKey = try await rotor.store.credentialSecrets(rotor.credential.id).current.reveal()
            let again = try Self.report([(rotor.apiKey, "vultr_api_key"), (newKey, "vultr_api_key")])
            let second = try await rotor.send(.POST, "/v1/leaks/github", body: again, headers: try await Self.headers(signer, again))
            #expect((second.json as? [[String: String]])?.map { $0["label"] } == ["false_positive", "true_positive"])
            let secondJob = try #require(try await rotor.allJobs().first { $0.id != job.id })
            #expect(try await rotor.finished(secondJob.id.rawValue)["state"] as? String == "succeeded")
        }
    }

    @Test("an unknown token is labelled false_positive and starts nothing")
    func unknownToken() async throws {
        let signer = try await GitHubSigner()
        defer { signer.remove() }
        try await LiveRotor.run(githubKeys: try signer.keySet()) { rotor in
            let body = try Self.report([("ghp_0123456789abcdefghijklmnopqrstuvwxyzAB", "github_personal_access_token")])
            let reply = try await rotor.send(.POST, "/v1/leaks/github", body: body, headers: try await Self.headers(signer, body))
            #expect(reply.status == .ok)
            #expect((reply.json as? [[String: String]])?.first?["label"] == "false_positive")
            #expect(try await rotor.allJobs().isEmpty)
        }
    }

    @Test("a leak of a credential with an active job joins that job and takes its grace period out")
    func joinsActiveJob() async throws {
        let signer = try await GitHubSigner()
        defer { signer.remove() }
        try await LiveRotor.run(githubKeys: try signer.keySet()) { rotor in
            // Slow verification keeps the job before grace (the old key still current) while the report arrives.
            rotor.fake.setLatency(.milliseconds(400), on: .account)
            let started = try await rotor.api(.POST, "/v1/jobs", json: #"{"credential_id":"\#(rotor.credential.id)","grace_period":"PT1H"}"#)
            let active = try #require(started.object["id"] as? String)
            let body = try Self.report([(rotor.apiKey, "vultr_api_key")])
            let reply = try await rotor.send(.POST, "/v1/leaks/github", body: body, headers: try await Self.headers(signer, body))
            #expect((reply.json as? [[String: String]])?.first?["label"] == "true_positive")
            #expect(try await rotor.allJobs().map(\.id.rawValue) == [active])
            rotor.fake.setLatency(.zero)
            // Without the grace hour, it finishes within the wait.
            let finished = try await rotor.finished(active)
            #expect(finished["state"] as? String == "succeeded")
            #expect(finished["grace_period"] as? String == "PT0S")
            let events = try await rotor.store.events(JobID(unchecked: active))
            #expect(events.contains { $0.type == "job.expedited" })
            #expect(rotor.fake.key(id: rotor.credential.current.providerKeyID) == nil)
        }
    }

    @Test("a changed byte, a signature by another key, an unknown key id, or missing headers get 401 signature_invalid and start nothing")
    func badSignatures() async throws {
        let signer = try await GitHubSigner()
        let stranger = try await GitHubSigner(identifier: "stranger")
        defer { signer.remove(); stranger.remove() }
        try await LiveRotor.run(githubKeys: try signer.keySet()) { rotor in
            let body = try Self.report([(rotor.apiKey, "vultr_api_key")])
            let good = try await Self.headers(signer, body)
            var changed = body
            changed[changed.count - 3] ^= 0x01
            let cases: [(String, [UInt8], [(String, String)])] = [
                ("changed byte", changed, good),
                ("another key's signature", body, [good[0], ("Github-Public-Key-Signature", try await stranger.sign(body)), good[2]]),
                ("unknown key id", body, [("Github-Public-Key-Identifier", "stranger"), ("Github-Public-Key-Signature", try await stranger.sign(body)), good[2]]),
                ("no signature", body, [good[0], good[2]]),
                ("no identifier", body, [good[1], good[2]]),
                ("not base64", body, [good[0], ("Github-Public-Key-Signature", "%%%"), good[2]]),
            ]
            for (name, payload, headers) in cases {
                let reply = try await rotor.send(.POST, "/v1/leaks/github", body: payload, headers: headers)
                #expect(reply.status == .unauthorized, "\(name): \(reply.body)")
                #expect(reply.code == "signature_invalid", "\(name)")
            }
            #expect(try await rotor.allJobs().isEmpty)
            // A signed body that is not a report is checked after the signature: 400/422, nothing started.
            let notJSON = Array("{oops".utf8)
            #expect(try await rotor.send(.POST, "/v1/leaks/github", body: notJSON, headers: try await Self.headers(signer, notJSON)).status == .badRequest)
            #expect(try await rotor.allJobs().isEmpty)
        }
    }

    @Test("without ROTOR_GITHUB_KEYS_FILE the route answers 503 unavailable")
    func unconfigured() async throws {
        try await APIHarness.run { api in
            let reply = try await api.send(.POST, "/v1/leaks/github", body: "[]", token: nil)
            #expect(reply.status == .serviceUnavailable)
            #expect(reply.code == "unavailable")
        }
    }

    @Test("GitHub's key file: every listed key verifies; bad files are refused naming the problem")
    func keyFile() async throws {
        let current = try await GitHubSigner(identifier: "current")
        let older = try await GitHubSigner(identifier: "older")
        defer { current.remove(); older.remove() }
        let set = try current.keySet(others: [older])
        #expect(set.identifiers == ["current", "older"])
        let message = Array("payload".utf8)
        let signature = try #require(Data(base64Encoded: try await older.sign(message)))
        #expect(set.key("older")?.isValidSignature(Array(signature), for: message) == true)
        #expect(set.key("current")?.isValidSignature(Array(signature), for: message) == false)

        #expect(throws: GitHubKeySet.LoadError.self) { try GitHubKeySet(json: Data("{}".utf8)) }
        #expect(throws: GitHubKeySet.LoadError.self) { try GitHubKeySet(json: Data(#"{"public_keys":[]}"#.utf8)) }
        #expect(throws: GitHubKeySet.LoadError.self) {
            try GitHubKeySet(json: Data(#"{"public_keys":[{"key_identifier":"x","key":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n","is_current":true}]}"#.utf8))
        }
        #expect(throws: GitHubKeySet.LoadError.self) { try GitHubKeySet.load(fromFile: "/nonexistent/keys.json") }
    }
}
