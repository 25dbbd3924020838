import ChildProcess
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorCrypto
import RotorHTTP
import Synchronization
import Testing

/// A subscriber that fails twice and then recovers: the first request gets 503; the second is
/// held until the test lets go (Rotor is killed meanwhile), then gets 503; every later one 200.
final class FlakySubscriber: Sendable {
    struct Received: Sendable {
        var id: String
        var timestamp: String
        var signature: String
        var body: [UInt8]
        var answered: HTTPResponseStatus
        var afterRestart: Bool
        var type: String? { (try? JSONSerialization.jsonObject(with: Data(self.body)) as? [String: Any])?["type"] as? String }
    }

    private struct State {
        var count = 0
        var held: String?
        var released = false
        var restarted = false
        var received: [Received] = []
    }

    private let state = Mutex(State())

    var received: [Received] { self.state.withLock { $0.received } }
    var heldID: String? { self.state.withLock { $0.held } }

    func release() { self.state.withLock { $0.released = true } }
    func restarted() { self.state.withLock { $0.restarted = true } }

    func responder() -> RouterResponder {
        let router = Router()
        router.post("/events") { request in
            let headers = request.headers
            let id = headers["webhook-id"].first ?? ""
            let number = self.state.withLock { state in
                state.count += 1
                if state.count == 2 { state.held = id }
                return state.count
            }
            if number == 2 {
                while !self.state.withLock({ $0.released }) { try await Task.sleep(for: .milliseconds(10)) }
            }
            let status: HTTPResponseStatus = number <= 2 ? .serviceUnavailable : .ok
            self.state.withLock { state in
                state.received.append(
                    Received(
                        id: id, timestamp: headers["webhook-timestamp"].first ?? "", signature: headers["webhook-signature"].first ?? "",
                        body: Array(request.body.readableBytesView), answered: status, afterRestart: state.restarted))
            }
            return Response(status: status)
        }
        return router.buildResponder()
    }
}

/// Issue 4's done-when for event subscriptions, with the real binary over real sockets.
@Suite(.timeLimit(.minutes(2))) struct SubscriptionProcessTests {
    @Test("a subscriber that fails twice gets every event once it recovers, across a kill -9 and restart, signed, with stable webhook-ids")
    func failsTwiceAcrossRestart() async throws {
        let subscriber = FlakySubscriber()
        try await HTTPServer.withRunningServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0), responder: subscriber.responder(), logger: Logger(label: "subscriber")
        ) { address in
            let dataDirectory = NSTemporaryDirectory() + "rotor-subscriptions-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
            let environment = ["ROTOR_RETRY_BASE": "PT0.05S", "ROTOR_OUTBOX_RETRY_BASE": "PT0.1S", "ROTOR_OUTBOX_RETRY_MAX": "PT0.3S"]
            let arguments = ["serve", "--sandbox", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory]

            let first = try RotorProcessTests.RunningRotor(arguments: arguments, environment: environment)
            let port = try await first.port()
            let token = String(try #require(first.output.firstMatch(of: /admin token: (rtr_\S+)/)?.output.1))
            let key = String(try #require(first.output.firstMatch(of: /sandbox Vultr API key to register as a credential: (\S+)/)?.output.1))
            func call(_ port: Int, _ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> (HTTPResponseStatus, [String: Any]) {
                try await RotorProcessTests.api(port: port, token: token, method, path, body)
            }

            let url = "http://127.0.0.1:\(address.port ?? 0)/events"
            let (created, subscription) = try await call(port, .POST, "/v1/subscriptions", #"{"url":"\#(url)","events":["job.started","job.succeeded","job.failed"]}"#)
            #expect(created == .created, "\(subscription)")
            let subscriptionID = try #require(subscription["id"] as? String)
            let secretText = try #require(subscription["secret"] as? String)
            let secret = try WebhookSecret(encoded: secretText)

            let (_, credential) = try await call(port, .POST, "/v1/credentials", #"{"name":"subscribed","provider":"vultr","secret":"\#(key)","targets":[]}"#)
            let credentialID = try #require(credential["id"] as? String, "\(credential)")
            let (_, job) = try await call(port, .POST, "/v1/jobs", #"{"credential_id":"\#(credentialID)"}"#)
            let jobID = try #require(job["id"] as? String)
            let (_, finished) = try await call(port, .GET, "/v1/jobs/\(jobID)?wait=PT20S")
            #expect(finished["state"] as? String == "succeeded")

            // The second attempt is in flight, unanswered, when Rotor dies: it was never recorded.
            var deadline = ContinuousClock.now + .seconds(20)
            while subscriber.heldID == nil {
                guard ContinuousClock.now < deadline else { Issue.record("no second delivery attempt"); return }
                try await Task.sleep(for: .milliseconds(10))
            }
            kill(first.process.processIdentifier, SIGKILL)
            _ = try await first.exitStatus()
            subscriber.restarted()
            subscriber.release()

            let second = try RotorProcessTests.RunningRotor(arguments: arguments, environment: environment)
            let restartedPort = try await second.port()
            deadline = ContinuousClock.now + .seconds(30)
            func deliveredTypes() -> Set<String> { Set(subscriber.received.filter { $0.answered == .ok }.compactMap(\.type)) }
            while deliveredTypes() != ["job.started", "job.succeeded"] {
                guard ContinuousClock.now < deadline else { Issue.record("delivered only \(deliveredTypes())"); break }
                try await Task.sleep(for: .milliseconds(20))
            }

            let received = subscriber.received
            #expect(received.filter { $0.answered == .serviceUnavailable }.count == 2)
            // The held event was sent again by the restarted Rotor, under the same webhook-id.
            let held = try #require(subscriber.heldID)
            #expect(received.contains { $0.id == held && $0.answered == .ok && $0.afterRestart })
            // One id per event, the same bytes on every attempt, each attempt signed.
            for (id, attempts) in Dictionary(grouping: received, by: \.id) {
                #expect(id.hasPrefix("evt_"))
                #expect(Set(attempts.map(\.body)).count == 1, "\(id) changed its body between attempts")
                #expect(attempts.contains { $0.answered == .ok }, "\(id) never delivered")
                for attempt in attempts {
                    try StandardWebhooks.verify(
                        id: attempt.id, timestamp: attempt.timestamp, signatureHeader: attempt.signature, body: attempt.body,
                        secrets: [secret], now: Date())
                }
            }
            #expect(Set(Dictionary(grouping: received, by: \.id).keys).count == 2)

            // Rotor records a delivery once the subscriber's answer is back, a moment after the
            // subscriber has seen the request: read until both are recorded, or the deadline.
            var items: [[String: Any]] = []
            deadline = ContinuousClock.now + .seconds(10)
            repeat {
                let (_, deliveries) = try await call(restartedPort, .GET, "/v1/subscriptions/\(subscriptionID)/deliveries")
                items = try #require(deliveries["data"] as? [[String: Any]])
                if items.count == 2, items.allSatisfy({ $0["state"] as? String == "delivered" }) { break }
                try await Task.sleep(for: .milliseconds(20))
            } while ContinuousClock.now < deadline
            #expect(items.count == 2)
            for item in items {
                #expect(item["state"] as? String == "delivered", "\(item)")
                #expect(item["last_status_code"] as? Int == 200)
            }
            second.process.terminate()
            #expect(try await second.exitStatus() == 0)

            // The signing secret was shown once, in the create response: never logged, never stored in plaintext.
            for output in [first.output, first.errors, second.output, second.errors] {
                #expect(!output.contains(secretText) && !output.contains(String(secretText.dropFirst(6))))
            }
            for name in ["rotor.sqlite", "rotor.sqlite-wal"] {
                guard let bytes = FileManager.default.contents(atPath: dataDirectory + "/" + name) else { continue }
                #expect(bytes.range(of: Data(secretText.dropFirst(6).utf8)) == nil, "\(name) holds the signing secret")
            }
        }
    }
}
