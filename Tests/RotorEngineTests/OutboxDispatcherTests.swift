import ChildProcess
import FakeVultr
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorCore
import RotorCrypto
@testable import RotorEngine
import RotorHTTP
import RotorProviders
import RotorSQLite
import Synchronization
import Testing

/// A clock the test moves by hand; the dispatcher reads it for due times and signatures.
final class OutboxTestClock: RotorClock {
    private let current: Mutex<Date>

    init(_ start: Date) { self.current = Mutex(start) }

    func now() -> Date { self.current.withLock { $0 } }

    func advance(by seconds: TimeInterval) { self.current.withLock { $0 = $0.addingTimeInterval(seconds) } }

    func sleep(until deadline: Date) async throws {
        while self.now() < deadline { try await Task.sleep(for: .milliseconds(5)) }
    }
}

/// A subscriber on a real socket that answers each request with the next status of a script
/// (the last one repeats), and keeps what it was sent.
final class EventReceiver: Sendable {
    struct Request: Sendable {
        var headers: HTTPHeaders
        var body: [UInt8]
        var answered: HTTPResponseStatus
        var id: String { self.headers["webhook-id"].first ?? "" }
        var timestamp: String { self.headers["webhook-timestamp"].first ?? "" }
        var type: String? { (try? JSONSerialization.jsonObject(with: Data(self.body)) as? [String: Any])?["type"] as? String }
    }

    let script: Mutex<[HTTPResponseStatus]>
    let requests = Mutex<[Request]>([])

    init(_ script: [HTTPResponseStatus]) { self.script = Mutex(script) }

    var all: [Request] { self.requests.withLock { $0 } }

    func responder() -> RouterResponder {
        let router = Router()
        router.post("/events") { request in
            let status = self.script.withLock { script in script.count > 1 ? script.removeFirst() : script[0] }
            self.requests.withLock { $0.append(Request(headers: request.headers, body: Array(request.body.readableBytesView), answered: status)) }
            return Response(status: status)
        }
        return router.buildResponder()
    }
}

/// A store, a receiver and a dispatcher on a hand-moved clock.
struct OutboxHarness: Sendable {
    let store: SQLiteStore
    let receiver: EventReceiver
    let clock: OutboxTestClock
    let dispatcher: OutboxDispatcher
    let url: String
    let secret: WebhookSecret

    static let t0 = Date(timeIntervalSinceReferenceDate: 820_000_000)

    static func with(
        script: [HTTPResponseStatus],
        events: [EventType] = EventType.allCases,
        _ body: @Sendable (OutboxHarness) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-outbox-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try await SQLiteStore.connect(path: directory.appendingPathComponent("rotor.sqlite").path, keyring: Keyring.generate())
        let receiver = EventReceiver(script)
        let clock = OutboxTestClock(Self.t0)
        try await HTTPServer.withRunningServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0),
            responder: receiver.responder(),
            logger: Logger(label: "receiver")
        ) { address in
            let dispatcher = OutboxDispatcher(
                store: store,
                sender: WebhookDelivery(policy: .loopbackAllowed, timeout: .seconds(5)),
                clock: clock,
                configuration: OutboxConfiguration(
                    owner: "test-outbox", pollInterval: .milliseconds(20),
                    retry: RetryPolicy(base: .seconds(1), maximum: .seconds(3600)), expiryCheckInterval: 60),
                logger: Logger(label: "outbox")
            )
            let secret = WebhookSecret.generate()
            let url = "http://127.0.0.1:\(address.port ?? 0)/events"
            try await store.createSubscription(
                Subscription(id: .generate(), url: url, events: events, createdAt: Self.t0), signingSecret: Secret(secret.encoded))
            let harness = OutboxHarness(store: store, receiver: receiver, clock: clock, dispatcher: dispatcher, url: url, secret: secret)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await dispatcher.run() }
                do {
                    try await body(harness)
                } catch {
                    await dispatcher.stop()
                    throw error
                }
                await dispatcher.stop()
                try await group.waitForAll()
            }
        }
    }

    /// Starts a job on a fresh credential at the clock's time: one `job.started` event.
    @discardableResult
    func startJob(schedule: Schedule? = nil) async throws -> Job {
        let now = self.clock.now()
        let key = KeyInfo(providerKeyID: "key-\(UUID().uuidString.prefix(6))", fingerprint: "sha256:000000000000", createdAt: now, expiresAt: now.addingTimeInterval(90 * 86_400))
        let credential = Credential(id: .generate(), name: "c-\(UUID().uuidString.prefix(8))", provider: .vultr, current: key, schedule: schedule, createdAt: now, updatedAt: now)
        try await self.store.createCredential(credential, secrets: CredentialSecrets(current: Secret("k-\(credential.id.rawValue)")))
        guard case .created(let job) = try await self.store.createJob(
            NewJob(credentialID: credential.id, trigger: Trigger(kind: .api), at: now),
            idempotencyKey: nil, requestFingerprint: nil, events: [])
        else { throw CancellationError() }
        _ = try await self.store.claimJobs(owner: "engine", now: now, leaseUntil: now.addingTimeInterval(600), limit: 10)
        var started = job
        try started.start(at: now)
        try await self.store.commit(RotationCommit(job: started), owner: "engine")
        return started
    }

    /// The only subscription's deliveries.
    func deliveries() async throws -> [SubscriptionDelivery] {
        let subscription = try #require(try await self.store.subscriptions(PageRequest()).items.first)
        return try await self.store.deliveries(of: subscription.id, PageRequest()).items
    }

    /// Polls (real time) until the receiver has `count` requests.
    func waitForRequests(_ count: Int) async throws {
        try await Poll.until("the receiver has \(count) requests") { self.receiver.all.count >= count }
    }

    /// Polls (real time) until the only delivery satisfies `condition`.
    @discardableResult
    func waitForDelivery(_ condition: @Sendable (SubscriptionDelivery) -> Bool) async throws -> SubscriptionDelivery {
        var found: SubscriptionDelivery?
        try await Poll.until("the delivery gets there") {
            found = try await self.deliveries().first.flatMap { condition($0) ? $0 : nil }
            return found != nil
        }
        return try #require(found)
    }

    /// Gives the dispatcher time to do what it should not (several poll intervals).
    func settle() async throws { try await Task.sleep(for: .milliseconds(150)) }
}

@Suite(.timeLimit(.minutes(1))) struct OutboxDispatcherTests {
    @Test("a subscriber that fails twice gets the event on the third attempt: same webhook-id and body, each attempt signed at its own time")
    func failsTwiceThenDelivered() async throws {
        try await OutboxHarness.with(script: [.serviceUnavailable, .tooManyRequests, .ok]) { h in
            let job = try await h.startJob()
            try await h.waitForRequests(1)
            // Backing off: no second attempt while the clock stands still.
            try await h.settle()
            #expect(h.receiver.all.count == 1)
            let waiting = try await h.waitForDelivery { $0.attempts == 1 }
            #expect(waiting.state == .pending && waiting.lastStatusCode == 503 && waiting.lastError == "answered 503")
            let next = try #require(waiting.nextAttemptAt)
            #expect(next > OutboxHarness.t0 && next <= OutboxHarness.t0.addingTimeInterval(1))

            h.clock.advance(by: 1)
            try await h.waitForRequests(2)
            try await h.waitForDelivery { $0.attempts == 2 }
            h.clock.advance(by: 2)
            try await h.waitForRequests(3)
            let delivered = try await h.waitForDelivery { $0.state == .delivered }
            #expect(delivered.attempts == 3 && delivered.lastStatusCode == 200 && delivered.deliveredAt == OutboxHarness.t0.addingTimeInterval(3))
            #expect(delivered.type == .jobStarted)

            let requests = h.receiver.all
            #expect(requests.map(\.answered) == [.serviceUnavailable, .tooManyRequests, .ok])
            #expect(Set(requests.map(\.id)) == [delivered.eventID.rawValue])
            #expect(Set(requests.map(\.body)).count == 1)
            let start = Int(OutboxHarness.t0.timeIntervalSince1970)
            #expect(requests.map(\.timestamp) == [String(start), String(start + 1), String(start + 3)])
            for request in requests {
                try StandardWebhooks.verify(
                    id: request.id, timestamp: request.timestamp, signatureHeader: try #require(request.headers["webhook-signature"].first),
                    body: request.body, secrets: [h.secret], now: Date(timeIntervalSince1970: TimeInterval(Int(request.timestamp)!)))
            }
            let payload = try #require(try JSONSerialization.jsonObject(with: Data(requests[0].body)) as? [String: Any])
            #expect(payload["type"] as? String == "job.started")
            #expect((payload["data"] as? [String: Any])?["job_id"] as? String == job.id.rawValue)
            // Nothing more once delivered.
            h.clock.advance(by: 86_400)
            try await h.settle()
            #expect(h.receiver.all.count == 3)
        }
    }

    @Test("retries stop 24 h after the event: the last attempt falls at the 24 h mark, then the delivery is failed")
    func givesUpAfter24Hours() async throws {
        try await OutboxHarness.with(script: [.internalServerError]) { h in
            try await h.startJob()
            try await h.waitForDelivery { $0.attempts == 1 }
            h.clock.advance(by: 23.5 * 3600)
            let late = try await h.waitForDelivery { $0.attempts == 2 }
            // The backoff would reach beyond 24 h; the next attempt is at the mark instead.
            #expect(late.state == .pending)
            #expect(try #require(late.nextAttemptAt) <= OutboxHarness.t0.addingTimeInterval(86_400))
            h.clock.advance(by: 3600)
            let failed = try await h.waitForDelivery { $0.state == .failed }
            #expect(failed.attempts == 3 && failed.lastStatusCode == 500 && failed.nextAttemptAt == nil)
            #expect(failed.lastError?.contains("gave up after 24 h") == true)
            h.clock.advance(by: 86_400)
            try await h.settle()
            #expect(h.receiver.all.count == 3)
        }
    }

    @Test("a 4xx other than 408 and 429 is a permanent failure: one attempt")
    func permanentFailure() async throws {
        try await OutboxHarness.with(script: [.gone]) { h in
            try await h.startJob()
            let failed = try await h.waitForDelivery { $0.state == .failed }
            #expect(failed.attempts == 1 && failed.lastStatusCode == 410 && failed.lastError == "answered 410")
            h.clock.advance(by: 3600)
            try await h.settle()
            #expect(h.receiver.all.count == 1)
        }
    }

    @Test("credential.expiring is sent once the key is within before_expiry, and once only")
    func expiring() async throws {
        try await OutboxHarness.with(script: [.ok], events: [.credentialExpiring]) { h in
            // Its key expires 90 days from now; the schedule wants a word 7 days before.
            try await h.startJob(schedule: Schedule(beforeExpiry: ISODuration(seconds: 7 * 86_400)))
            try await h.settle()
            #expect(h.receiver.all.isEmpty)
            h.clock.advance(by: 84 * 86_400)
            try await h.waitForRequests(1)
            #expect(h.receiver.all.map(\.type) == ["credential.expiring"])
            // Recorded before the clock jumps a day: a delivery still in flight then would have
            // outlived its lease and rightly be sent again (at least once), which is not the point.
            try await h.waitForDelivery { $0.state == .delivered }
            h.clock.advance(by: 86_400)
            try await h.settle()
            h.clock.advance(by: 86_400)
            try await h.settle()
            #expect(h.receiver.all.count == 1)
        }
    }

    @Test("backoff: full jitter under base·2^(n-1) capped at the maximum, Retry-After as a floor, the 24 h mark as a ceiling")
    func backoff() throws {
        let configuration = OutboxConfiguration(owner: "t", retry: RetryPolicy(base: .seconds(5), maximum: .seconds(3600)))
        let t0 = OutboxHarness.t0
        func message(attempts: Int) -> OutboxMessage {
            OutboxMessage(
                event: OutboxEvent(id: .generate(), type: .jobStarted, timestamp: t0, payload: []), subscriptionID: .generate(),
                url: "https://x.example", signingSecret: Secret("s"), attempts: attempts, createdAt: t0)
        }
        for attempts in 0..<20 {
            let now = t0.addingTimeInterval(60)
            let result = OutboxDispatcher.result(
                of: .transientFailure("answered 503", retryAfter: nil), statusCode: 503, message: message(attempts: attempts), at: now,
                configuration: configuration)
            guard case .retry(let next, let status, _) = result else { Issue.record("\(result)"); continue }
            #expect(status == 503)
            let ceiling = min(3600, 5 * pow(2, Double(attempts)))
            #expect(next >= now && next <= now.addingTimeInterval(ceiling))
        }
        let floored = OutboxDispatcher.result(
            of: .transientFailure("answered 429", retryAfter: .seconds(120)), statusCode: 429, message: message(attempts: 0), at: t0,
            configuration: configuration)
        guard case .retry(let next, _, _) = floored else { Issue.record("\(floored)"); return }
        #expect(next == t0.addingTimeInterval(120))
        let capped = OutboxDispatcher.result(
            of: .transientFailure("x", retryAfter: .seconds(3600)), statusCode: 503, message: message(attempts: 30),
            at: t0.addingTimeInterval(86_000), configuration: configuration)
        #expect(capped == .retry(nextAttemptAt: t0.addingTimeInterval(86_400), statusCode: 503, error: "x"))
        let over = OutboxDispatcher.result(
            of: .transientFailure("x", retryAfter: nil), statusCode: nil, message: message(attempts: 30), at: t0.addingTimeInterval(86_400),
            configuration: configuration)
        #expect(over == .failed(statusCode: nil, error: "x; gave up after 24 h of retries"))
        #expect(OutboxDispatcher.result(of: .permanentFailure("answered 400"), statusCode: 400, message: message(attempts: 0), at: t0, configuration: configuration)
            == .failed(statusCode: 400, error: "answered 400"))
        #expect(OutboxDispatcher.result(of: .delivered(status: 202), statusCode: 202, message: message(attempts: 0), at: t0, configuration: configuration)
            == .delivered(statusCode: 202))
    }
}

/// The engine's real commits produce the events (JobRunner → SQLiteStore.commit).
@Suite(.timeLimit(.minutes(1))) struct OutboxEngineTests {
    /// Runs a dispatcher on the system clock beside the harness's engine, subscribed to everything.
    private func withDispatcher(_ h: EngineHarness, _ body: @Sendable (WebhookSecret) async throws -> Void) async throws {
        let dispatcher = OutboxDispatcher(
            store: h.store, sender: WebhookDelivery(policy: .loopbackAllowed, timeout: .seconds(5)),
            configuration: OutboxConfiguration(owner: "test-outbox", pollInterval: .milliseconds(20), retry: RetryPolicy(base: .milliseconds(20), maximum: .milliseconds(50))),
            logger: Logger(label: "outbox"))
        let secret = WebhookSecret.generate()
        try await h.store.createSubscription(
            Subscription(id: .generate(), url: h.receiverURL + "/events", events: EventType.allCases, createdAt: Date()), signingSecret: Secret(secret.encoded))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await dispatcher.run() }
            do { try await body(secret) } catch {
                await dispatcher.stop()
                throw error
            }
            await dispatcher.stop()
            try await group.waitForAll()
        }
    }

    private func events(_ h: EngineHarness, count: Int) async throws -> [TargetReceiver.Delivery] {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let events = h.receiver.all.filter { $0.path == "/events" }
            if events.count >= count { return events }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("got \(h.receiver.all.filter { $0.path == "/events" }.map(\.type))")
        throw CancellationError()
    }

    @Test("a rotation reports job.started and job.succeeded, signed, without any secret")
    func success() async throws {
        try await EngineHarness.with { h in
            try await self.withDispatcher(h) { secret in
                let (credential, _) = try await h.makeCredential()
                let job = try await h.waitFor(try await h.rotate(credential))
                #expect(job.state == .succeeded)
                let events = try await self.events(h, count: 2)
                #expect(Set(events.compactMap(\.type)) == ["job.started", "job.succeeded"])
                let newSecret = try await h.store.credentialSecrets(credential.id).current.reveal()
                for event in events {
                    try StandardWebhooks.verify(
                        id: try #require(event.headers["webhook-id"].first), timestamp: try #require(event.headers["webhook-timestamp"].first),
                        signatureHeader: try #require(event.headers["webhook-signature"].first), body: event.body, secrets: [secret], now: Date())
                    #expect(event.headers["webhook-id"].first?.hasPrefix("evt_") == true)
                    let text = String(decoding: event.body, as: UTF8.self)
                    #expect(!text.contains(newSecret) && !text.contains(h.originalKey.secret) && !text.contains(h.signing.encoded))
                }
                let succeeded = try #require(events.first { $0.type == "job.succeeded" })
                let data = try #require((try JSONSerialization.jsonObject(with: Data(succeeded.body)) as? [String: Any])?["data"] as? [String: Any])
                #expect(data["version"] as? Int == 2)
                #expect((data["new_key"] as? [String: Any])?["provider_key_id"] as? String == job.newKey?.providerKeyID)
            }
        }
    }

    @Test("a rotation that fails at revoke reports job.failed and credential.attention")
    func failure() async throws {
        try await EngineHarness.with { h in
            try await self.withDispatcher(h) { _ in
                let (credential, _) = try await h.makeCredential()
                h.fake.failNext(50, status: .forbidden, on: .delete)
                #expect(try await h.waitFor(try await h.rotate(credential)).state == .failed)
                let events = try await self.events(h, count: 3)
                #expect(events.compactMap(\.type).sorted() == ["credential.attention", "job.failed", "job.started"])
            }
        }
    }

    @Test("a rotation rolled back reports job.started and job.rolled_back")
    func rollback() async throws {
        try await EngineHarness.with { h in
            try await self.withDispatcher(h) { _ in
                let (credential, _) = try await h.makeCredential()
                h.fake.failNext(1, status: .forbidden, on: .create)
                #expect(try await h.waitFor(try await h.rotate(credential)).state == .rolledBack)
                let events = try await self.events(h, count: 2)
                #expect(events.compactMap(\.type).sorted() == ["job.rolled_back", "job.started"])
            }
        }
    }
}
