import AsyncHTTPClient
import FakeVultr
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorAPI
import RotorCore
import RotorEngine
import RotorHTTP
import RotorSQLite
import RotorCrypto
import Synchronization
import Testing

/// `/v1/jobs` in-process, over a real SQLite store; the engine (when running) works against
/// FakeVultr over real sockets.
@Suite(.timeLimit(.minutes(1))) struct JobRoutesTests {
    struct Setup: Sendable {
        let responder: RouterResponder
        let store: any RotorStore
        let fake: FakeVultr
        let credential: Credential

        func send(_ method: HTTPMethod, _ uri: String, json: String? = nil, headers: HTTPHeaders = [:]) async throws -> (status: HTTPResponseStatus, headers: HTTPHeaders, json: [String: Any]) {
            var headers = headers
            headers.add(name: "Authorization", value: "Bearer \(AuthTests.token)")
            if json != nil { headers.add(name: "Content-Type", value: "application/json") }
            let response = try await self.responder.respond(
                to: Request(method: method, uri: uri, headers: headers, body: ByteBuffer(string: json ?? ""), logger: Logger(label: "t"))
            )
            let body = response.body.readableBytes == 0 ? [:] : (try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any] ?? [:])
            return (response.status, response.headers, body)
        }
    }

    /// A credential on a FakeVultr user's key, the API over it, and optionally a running engine.
    static func with(engine runEngine: Bool, _ body: @Sendable (Setup) async throws -> Void) async throws {
        try await EngineFixture.with(name: "api-test") { fixture in
            let engine = fixture.engine
            let setup = Setup(
                responder: RotorApplication.buildResponder(
                    configuration: APIConfiguration(authenticator: AdminTokenAuthenticator(adminToken: AuthTests.token), services: fixture.services)),
                store: fixture.store, fake: fixture.fake, credential: fixture.credential
            )
            try await withThrowingTaskGroup(of: Void.self) { group in
                if runEngine { group.addTask { try await engine.run() } }
                defer { Task { await engine.stop() } }
                try await body(setup)
                await engine.stop()
                try await group.waitForAll()
            }
        }
    }

    @Test("POST /v1/jobs queues a rotation: 202, Location, the job's fields; a second one is 409 with the first's id")
    func create() async throws {
        try await Self.with(engine: false) { s in
            let created = try await s.send(.POST, "/v1/jobs", json: #"{"credential_id":"\#(s.credential.id)","reason":"quarterly"}"#)
            #expect(created.status == .accepted)
            let id = try #require(created.json["id"] as? String)
            #expect(created.headers["Location"] == ["/v1/jobs/\(id)"])
            #expect(created.json["state"] as? String == "queued")
            #expect(created.json["step"] as? String == "create")
            #expect(created.json["reason"] as? String == "quarterly")
            #expect(created.json["grace_period"] as? String == "PT0S")
            #expect((created.json["trigger"] as? [String: String]) == ["kind": "api", "source": "admin"])
            #expect(created.json["new_key"] is NSNull)
            #expect((created.json["old_key"] as? [String: String])?["provider_key_id"] == s.credential.current.providerKeyID)
            #expect(try await s.store.credential(s.credential.id)?.state == .rotating)

            let second = try await s.send(.POST, "/v1/jobs", json: #"{"credential_id":"\#(s.credential.id)"}"#)
            #expect(second.status == .conflict)
            #expect(second.json["code"] as? String == "rotation_in_progress")
            #expect(second.json["job_id"] as? String == id)
        }
    }

    @Test("Idempotency-Key: the same request answers the same job; another body with the key is 409")
    func idempotency() async throws {
        try await Self.with(engine: false) { s in
            let body = #"{"credential_id":"\#(s.credential.id)"}"#
            let first = try await s.send(.POST, "/v1/jobs", json: body, headers: ["Idempotency-Key": "abc-1"])
            let again = try await s.send(.POST, "/v1/jobs", json: body, headers: ["Idempotency-Key": "abc-1"])
            #expect(first.status == .accepted && again.status == .accepted)
            #expect(first.json["id"] as? String == again.json["id"] as? String)
            let other = try await s.send(.POST, "/v1/jobs", json: #"{"credential_id":"\#(s.credential.id)","dry_run":true}"#, headers: ["Idempotency-Key": "abc-1"])
            #expect(other.status == .conflict)
            #expect(other.json["code"] as? String == "idempotency_conflict")
            #expect(try await s.store.jobs(JobFilter(), PageRequest()).items.count == 1)
        }
    }

    @Test("bad job requests are refused with the contract's problems and create nothing", arguments: [
        (#"{"credential_id":"#, 400, "invalid_json"),
        (#"{"credential_id":"nope"}"#, 422, "invalid_request"),
        (#"{"credential_id":"cred_00000000000000000000000000"}"#, 422, "invalid_request"),
        (#"{"credential_id":"CRED","grace_period":"P1M"}"#, 422, "invalid_request"),
        (#"{"credential_id":"CRED","grace_period":"soon"}"#, 422, "invalid_request"),
        (#"{"credential_id":"CRED","dry_run":"yes"}"#, 422, "invalid_request"),
        (#"{}"#, 422, "invalid_request"),
    ])
    func badRequests(body: String, status: Int, code: String) async throws {
        try await Self.with(engine: false) { s in
            let response = try await s.send(.POST, "/v1/jobs", json: body.replacingOccurrences(of: "CRED", with: s.credential.id.rawValue))
            #expect(Int(response.status.code) == status)
            #expect(response.json["code"] as? String == code)
            #expect(try await s.store.jobs(JobFilter(), PageRequest()).items.isEmpty)
            #expect(try await s.store.credential(s.credential.id)?.state == .active)
        }
    }

    @Test("list filters by credential and state; get, events and 404s; bad filters are 422")
    func readRoutes() async throws {
        try await Self.with(engine: false) { s in
            let created = try await s.send(.POST, "/v1/jobs", json: #"{"credential_id":"\#(s.credential.id)"}"#)
            let id = try #require(created.json["id"] as? String)
            #expect(((try await s.send(.GET, "/v1/jobs?state=queued&credential_id=\(s.credential.id)")).json["data"] as? [Any])?.count == 1)
            #expect(((try await s.send(.GET, "/v1/jobs?state=succeeded")).json["data"] as? [Any])?.count == 0)
            #expect((try await s.send(.GET, "/v1/jobs?state=bogus")).status == .unprocessableEntity)
            #expect((try await s.send(.GET, "/v1/jobs?limit=0")).status == .unprocessableEntity)
            #expect((try await s.send(.GET, "/v1/jobs/\(id)")).json["id"] as? String == id)
            #expect((try await s.send(.GET, "/v1/jobs/job_00000000000000000000000000")).status == .notFound)
            #expect((try await s.send(.GET, "/v1/jobs/not-an-id")).status == .notFound)
            #expect((try await s.send(.GET, "/v1/jobs/\(id)?wait=PT61S")).status == .unprocessableEntity)
            let events = try #require((try await s.send(.GET, "/v1/jobs/\(id)/events")).json["data"] as? [[String: Any]])
            #expect(events.first?["type"] as? String == "job.created")
            #expect(events.first?["seq"] as? Int == 1)
        }
    }

    @Test("cancel: a queued job ends cancelled and the credential is active again; cancelling again changes nothing")
    func cancel() async throws {
        try await Self.with(engine: false) { s in
            let id = try #require((try await s.send(.POST, "/v1/jobs", json: #"{"credential_id":"\#(s.credential.id)"}"#)).json["id"] as? String)
            let cancelled = try await s.send(.POST, "/v1/jobs/\(id)/cancel")
            #expect(cancelled.status == .accepted)
            #expect(cancelled.json["state"] as? String == "cancelled")
            #expect(try await s.store.credential(s.credential.id)?.state == .active)
            #expect((try await s.send(.POST, "/v1/jobs/\(id)/cancel")).status == .accepted)
            #expect((try await s.send(.POST, "/v1/jobs/job_00000000000000000000000000/cancel")).status == .notFound)
        }
    }

    @Test("end to end: the engine rotates the key at the fake, and ?wait= answers once the job is done")
    func rotatesThroughTheAPI() async throws {
        try await Self.with(engine: true) { s in
            let id = try #require((try await s.send(.POST, "/v1/jobs", json: #"{"credential_id":"\#(s.credential.id)"}"#)).json["id"] as? String)
            let done = try await s.send(.GET, "/v1/jobs/\(id)?wait=PT20S")
            #expect(done.json["state"] as? String == "succeeded")
            let newKey = try #require((done.json["new_key"] as? [String: String])?["provider_key_id"])
            #expect(s.fake.key(id: s.credential.current.providerKeyID) == nil)
            #expect(s.fake.key(id: newKey) != nil)
            #expect(try await s.store.credential(s.credential.id)?.version == 2)
            // Cancelling a finished job is refused.
            let late = try await s.send(.POST, "/v1/jobs/\(id)/cancel")
            #expect(late.status == .conflict)
            #expect(late.json["code"] as? String == "cancel_too_late")
        }
    }

    /// The API over a store with one job, queued (no engine runs), each token allowed one wait.
    private static func withQueuedJob(name: String, _ body: @Sendable (Setup, RotationServices, String) async throws -> Void) async throws {
        try await EngineFixture.with(name: name) { fixture in
            var services = fixture.services
            services.waitLimits = WaitLimits(perToken: 1)
            let setup = Setup(
                responder: RotorApplication.buildResponder(
                    configuration: APIConfiguration(authenticator: AdminTokenAuthenticator(adminToken: AuthTests.token), services: services)),
                store: fixture.store, fake: fixture.fake, credential: fixture.credential)
            let created = try await setup.send(.POST, "/v1/jobs", json: #"{"credential_id":"\#(setup.credential.id)"}"#)
            try await body(setup, services, try #require(created.json["id"] as? String))
        }
    }

    @Test("?wait= is woken by the job's final commit (here a cancel), and a token holding its cap of waits gets 429 too_many_waits")
    func waitWokenAndCapped() async throws {
        try await Self.withQueuedJob(name: "api-wait") { setup, services, id in
            // No engine runs: the job stays queued until it is cancelled.
            let start = ContinuousClock.now
            let waiting = Task { () async throws -> (HTTPResponseStatus, String?) in
                let answer = try await setup.send(.GET, "/v1/jobs/\(id)?wait=PT30S")
                return (answer.status, answer.json["state"] as? String)
            }
            while services.jobWaiters.count == 0 { try await Task.sleep(for: .milliseconds(5)) }
            try await Task.sleep(for: .milliseconds(50))

            let second = try await setup.send(.GET, "/v1/jobs/\(id)?wait=PT30S")
            #expect(second.status == .tooManyRequests)
            #expect(second.json["code"] as? String == "too_many_waits")
            #expect(second.headers["Retry-After"] == ["1"])
            // Without wait the same token still reads.
            #expect(try await setup.send(.GET, "/v1/jobs/\(id)").status == .ok)

            #expect(try await setup.send(.POST, "/v1/jobs/\(id)/cancel").status == .accepted)
            let (status, state) = try await waiting.value
            #expect(status == .ok)
            #expect(state == "cancelled")
            #expect(ContinuousClock.now - start < .seconds(10), "the wait ran to its end instead of waking on the commit")
            #expect(services.jobWaiters.count == 0)
        }
    }

    @Test("?wait= on a job that does not finish answers its current state once the wait is over, and frees the token's slot")
    func waitRunsOut() async throws {
        try await Self.withQueuedJob(name: "api-wait-out") { setup, services, id in
            // No engine runs: the job stays queued.
            for _ in 0..<2 {
                let start = ContinuousClock.now
                let answer = try await setup.send(.GET, "/v1/jobs/\(id)?wait=PT1S")
                let waited = ContinuousClock.now - start
                #expect(answer.status == .ok)
                #expect(answer.json["id"] as? String == id)
                #expect(answer.json["state"] as? String == "queued")
                // Held to its deadline; the upper bound only catches a wait that never ends (the
                // whole suite shares two cores, so a prompt answer can still take seconds).
                #expect(waited >= .milliseconds(950) && waited < JobWaitersTests.promptly, "answered after \(waited)")
                // The slot (one per token here) is free again: the second round is not refused.
                #expect(services.jobWaiters.count == 0)
            }
        }
    }

    /// A clock the test moves by hand.
    final class ShiftedClock: RotorClock {
        let offset = Mutex<TimeInterval>(0)
        func now() -> Date { Date().addingTimeInterval(self.offset.withLock { $0 }) }
        func sleep(until deadline: Date) async throws {}
    }

    @Test("Idempotency-Key is per token and lasts 24 h: another token's same key starts its own job; after 24 h the key starts a new one")
    func idempotencyScopedAndExpiring() async throws {
        try await EngineFixture.with(name: "api-idem") { fixture in
            let clock = ShiftedClock()
            var services = fixture.services
            services.clock = clock
            let reader = "rtr_idempotency_scope_test_token_0123456789"
            try await fixture.store.createToken(
                APIToken(id: TokenID(unchecked: "tok_idem"), name: "other", scopes: [.jobsWrite, .jobsRead], credentialIDs: nil, expiresAt: nil, createdAt: Date()),
                sha256: SHA256.hexDigest(reader))
            let responder = RotorApplication.buildResponder(
                configuration: APIConfiguration(
                    authenticator: CompositeTokenAuthenticator([AdminTokenAuthenticator(adminToken: AuthTests.token), StoreTokenAuthenticator(store: fixture.store)]),
                    services: services))
            func post(_ token: String, key: String) async throws -> (HTTPResponseStatus, String?) {
                var headers = HTTPHeaders()
                headers.add(name: "Authorization", value: "Bearer \(token)")
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Idempotency-Key", value: key)
                let response = try await responder.respond(
                    to: Request(method: .POST, uri: "/v1/jobs", headers: headers, body: ByteBuffer(string: #"{"credential_id":"\#(fixture.credential.id)"}"#), logger: Logger(label: "t")))
                let json = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
                return (response.status, (json?["id"] ?? json?["job_id"]) as? String)
            }
            func cancel(_ id: String) async throws {
                var headers = HTTPHeaders()
                headers.add(name: "Authorization", value: "Bearer \(AuthTests.token)")
                let response = try await responder.respond(to: Request(method: .POST, uri: "/v1/jobs/\(id)/cancel", headers: headers, logger: Logger(label: "t")))
                #expect(response.status == .accepted)
            }

            let (firstStatus, first) = try await post(AuthTests.token, key: "k-1")
            #expect(firstStatus == .accepted)
            let (replayStatus, replayed) = try await post(AuthTests.token, key: "k-1")
            #expect(replayStatus == .accepted && replayed == first)
            // Another token, same key: its own request, not a replay of the admin's job (the
            // credential's job is still active, hence 409 naming it, not 202 with the admin's job).
            let (otherStatus, _) = try await post(reader, key: "k-1")
            #expect(otherStatus == .conflict)

            try await cancel(try #require(first))
            clock.offset.withLock { $0 = 86_400 + 60 }
            let (laterStatus, later) = try await post(AuthTests.token, key: "k-1")
            #expect(laterStatus == .accepted)
            #expect(later != nil && later != first, "a key older than 24 h replayed its old job")
        }
    }
}
