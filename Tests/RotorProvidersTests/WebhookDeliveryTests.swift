import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorCore
import RotorCrypto
import RotorHTTP
@testable import RotorProviders
import Synchronization
import Testing

/// A webhook receiver on a real socket that records what it is sent.
final class Receiver: Sendable {
    struct Received: Sendable {
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    let received = Mutex<[Received]>([])
    let answer: @Sendable (Request) async throws -> Response

    init(answer: @escaping @Sendable (Request) async throws -> Response = { _ in Response(status: .noContent) }) {
        self.answer = answer
    }

    func run<T: Sendable>(_ body: @Sendable (_ baseURL: String) async throws -> T) async throws -> T {
        let router = Router()
        for method in [HTTPMethod.GET, .POST] {
            router.on(method, "/{path}") { request in
                self.received.withLock { $0.append(Received(headers: request.headers, body: Array(request.body.readableBytesView))) }
                return try await self.answer(request)
            }
        }
        return try await HTTPServer.withRunningServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0),
            responder: router.buildResponder(),
            logger: Logger(label: "receiver")
        ) { address in
            try await body("http://127.0.0.1:\(address.port ?? 0)")
        }
    }
}

@Suite(.timeLimit(.minutes(1))) struct WebhookDeliveryTests {
    static let signing = WebhookSecret.generate()
    static let client = WebhookDelivery.makeClient()

    private func event(_ kind: TargetEvent.Kind) -> TargetEvent {
        TargetEvent(
            id: "evt_1", kind: kind, timestamp: Date(timeIntervalSince1970: 1_800_000_000), credentialID: CredentialID("cred_abc")!,
            credentialName: "prod", jobID: JobID("job_abc")!, version: 3, providerKeyID: "key-1", secret: Secret("NEWKEY-PLAINTEXT-0123456789")
        )
    }

    @Test("key.pending arrives signed per Standard Webhooks with the payload DESIGN.md gives")
    func pending() async throws {
        let receiver = Receiver()
        let outcome = try await receiver.run { baseURL in
            await WebhookDelivery(client: Self.client).deliver(
                self.event(.keyPending), to: Target(id: .generate(), url: baseURL + "/hook"), signingSecret: Secret(Self.signing.encoded)
            )
        }
        #expect(outcome == .delivered(status: 204))
        let request = try #require(receiver.received.withLock { $0.first })
        #expect(request.headers["webhook-id"] == ["evt_1"])
        #expect(request.headers["webhook-timestamp"] == ["1800000000"])
        try StandardWebhooks.verify(
            id: "evt_1", timestamp: "1800000000", signatureHeader: try #require(request.headers["webhook-signature"].first),
            body: request.body, secrets: [Self.signing], now: Date(timeIntervalSince1970: 1_800_000_000)
        )
        let json = try #require(JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
        #expect(json["type"] as? String == "key.pending")
        #expect(json["timestamp"] as? String == "2027-01-15T08:00:00Z")
        let data = try #require(json["data"] as? [String: Any])
        #expect(data["credential_id"] as? String == "cred_abc")
        #expect(data["credential_name"] as? String == "prod")
        #expect(data["job_id"] as? String == "job_abc")
        #expect(data["version"] as? Int == 3)
        #expect(data["provider_key_id"] as? String == "key-1")
        #expect(data["secret"] as? String == "NEWKEY-PLAINTEXT-0123456789")
    }

    @Test("only key.pending carries the secret", arguments: [TargetEvent.Kind.keyRevoked, .keyRolledBack])
    func noSecret(kind: TargetEvent.Kind) throws {
        let body = WebhookDelivery.body(for: self.event(kind))
        let json = try #require(JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        #expect(json["type"] as? String == kind.rawValue)
        #expect((json["data"] as? [String: Any])?["secret"] == nil)
        #expect(!String(decoding: body, as: UTF8.self).contains("NEWKEY"))
    }

    @Test("answers are classified: 2xx delivered; 408, 429, 5xx transient; others permanent; redirects not followed", arguments: [
        (200, "delivered"), (202, "delivered"), (408, "transient"), (429, "transient"), (500, "transient"), (503, "transient"),
        (400, "permanent"), (401, "permanent"), (404, "permanent"), (410, "permanent"), (302, "permanent"),
    ])
    func classification(status: Int, expected: String) async throws {
        let receiver = Receiver { _ in
            Response(status: HTTPResponseStatus(statusCode: status), headers: status == 302 ? ["Location": "https://elsewhere.example/"] : [:])
        }
        let outcome = try await receiver.run { baseURL in
            await WebhookDelivery(client: Self.client).deliver(
                self.event(.keyRevoked), to: Target(id: .generate(), url: baseURL + "/hook"), signingSecret: Secret(Self.signing.encoded)
            )
        }
        switch (outcome, expected) {
        case (.delivered(let answered), "delivered"): #expect(answered == status)
        case (.transientFailure, "transient"), (.permanentFailure, "permanent"): break
        default: Issue.record("status \(status) gave \(outcome), expected \(expected)")
        }
        #expect(receiver.received.withLock { $0.count } == 1)
    }

    @Test("429 passes its Retry-After on")
    func retryAfter() async throws {
        let receiver = Receiver { _ in Response(status: .tooManyRequests, headers: ["Retry-After": "9"]) }
        let outcome = try await receiver.run { baseURL in
            await WebhookDelivery(client: Self.client).deliver(
                self.event(.keyRevoked), to: Target(id: .generate(), url: baseURL + "/hook"), signingSecret: Secret(Self.signing.encoded)
            )
        }
        #expect(outcome == .transientFailure("answered 429", retryAfter: .seconds(9)))
    }

    @Test("a receiver slower than the timeout, or not listening, is a transient failure")
    func noAnswer() async throws {
        let slow = Receiver { _ in
            try await Task.sleep(for: .seconds(1))
            return Response(status: .ok)
        }
        let outcome = try await slow.run { baseURL in
            await WebhookDelivery(client: Self.client, timeout: .milliseconds(300)).deliver(
                self.event(.keyRevoked), to: Target(id: .generate(), url: baseURL + "/hook"), signingSecret: Secret(Self.signing.encoded)
            )
        }
        guard case .transientFailure = outcome else { Issue.record("got \(outcome)"); return }
        let refused = await WebhookDelivery(client: Self.client, timeout: .milliseconds(500)).deliver(
            self.event(.keyRevoked), to: Target(id: .generate(), url: "http://127.0.0.1:1/hook"), signingSecret: Secret(Self.signing.encoded)
        )
        guard case .transientFailure = refused else { Issue.record("got \(refused)"); return }
    }

    @Test("a non-https public URL or a bad signing secret fails permanently without sending anything")
    func refusedBeforeSending() async {
        let delivery = WebhookDelivery(client: Self.client)
        let insecure = await delivery.deliver(self.event(.keyPending), to: Target(id: .generate(), url: "http://example.com/hook"), signingSecret: Secret(Self.signing.encoded))
        guard case .permanentFailure(let message) = insecure else { Issue.record("got \(insecure)"); return }
        #expect(message.contains("https"))
        let badSecret = await delivery.deliver(self.event(.keyPending), to: Target(id: .generate(), url: "https://example.com/hook"), signingSecret: Secret("not-a-secret"))
        guard case .permanentFailure = badSecret else { Issue.record("got \(badSecret)"); return }
    }

    @Test("verify: 2xx from the verify URL is success, 503 transient")
    func verify() async throws {
        let up = Receiver { _ in Response(status: .ok) }
        #expect(try await up.run { baseURL in await WebhookDelivery(client: Self.client).verify(url: baseURL + "/ready") } == .delivered(status: 200))
        let down = Receiver { _ in Response(status: .serviceUnavailable) }
        let outcome = try await down.run { baseURL in await WebhookDelivery(client: Self.client).verify(url: baseURL + "/ready") }
        guard case .transientFailure = outcome else { Issue.record("got \(outcome)"); return }
    }
}
