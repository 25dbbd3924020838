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
            await WebhookDelivery(policy: .loopbackAllowed).deliver(
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
            await WebhookDelivery(policy: .loopbackAllowed).deliver(
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
            await WebhookDelivery(policy: .loopbackAllowed).deliver(
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
            await WebhookDelivery(policy: .loopbackAllowed, timeout: .milliseconds(300)).deliver(
                self.event(.keyRevoked), to: Target(id: .generate(), url: baseURL + "/hook"), signingSecret: Secret(Self.signing.encoded)
            )
        }
        guard case .transientFailure = outcome else { Issue.record("got \(outcome)"); return }
        let refused = await WebhookDelivery(policy: .loopbackAllowed, timeout: .milliseconds(500)).deliver(
            self.event(.keyRevoked), to: Target(id: .generate(), url: "http://127.0.0.1:1/hook"), signingSecret: Secret(Self.signing.encoded)
        )
        guard case .transientFailure = refused else { Issue.record("got \(refused)"); return }
    }

    @Test("a non-https public URL or a bad signing secret fails permanently without sending anything")
    func refusedBeforeSending() async {
        let delivery = WebhookDelivery(policy: .loopbackAllowed)
        let insecure = await delivery.deliver(self.event(.keyPending), to: Target(id: .generate(), url: "http://example.com/hook"), signingSecret: Secret(Self.signing.encoded))
        guard case .permanentFailure(let message) = insecure else { Issue.record("got \(insecure)"); return }
        #expect(message.contains("https"))
        let badSecret = await delivery.deliver(self.event(.keyPending), to: Target(id: .generate(), url: "https://example.com/hook"), signingSecret: Secret("not-a-secret"))
        guard case .permanentFailure = badSecret else { Issue.record("got \(badSecret)"); return }
    }

    @Test("verify: 2xx from the verify URL is success, 503 transient")
    func verify() async throws {
        let up = Receiver { _ in Response(status: .ok) }
        #expect(try await up.run { baseURL in await WebhookDelivery(policy: .loopbackAllowed).verify(url: baseURL + "/ready") } == .delivered(status: 200))
        let down = Receiver { _ in Response(status: .serviceUnavailable) }
        let outcome = try await down.run { baseURL in await WebhookDelivery(policy: .loopbackAllowed).verify(url: baseURL + "/ready") }
        guard case .transientFailure = outcome else { Issue.record("got \(outcome)"); return }
    }

    /// Answers every name with the addresses it was given, as a DNS server under an attacker's
    /// control would (a public-looking name, an internal address).
    struct FixedResolver: HostResolver {
        let answers: [String: [String]]
        func addresses(of host: String) async throws -> [IPAddress] {
            (self.answers[host] ?? []).compactMap(IPAddress.init)
        }
    }

    @Test("a name that resolves to a private, loopback or metadata address is refused at connect time; nothing is sent")
    func resolvedAddressDenied() async throws {
        let receiver = Receiver()
        try await receiver.run { baseURL in
            let port = try #require(URL(string: baseURL)?.port)
            // The receiver is on 127.0.0.1; the policy is the default (public addresses only).
            for answer in [["127.0.0.1"], ["10.0.0.1", "127.0.0.1"], ["169.254.169.254"], ["::ffff:127.0.0.1"], ["fd00:ec2::254"]] {
                let delivery = WebhookDelivery(policy: OutboundPolicy(), resolver: FixedResolver(answers: ["hooks.example.com": answer]))
                let outcome = await delivery.verify(url: "https://hooks.example.com:\(port)/ready")
                #expect(outcome == .permanentFailure(OutboundFailure.denied.description), "\(answer): \(outcome)")
            }
            // The literal and the well-known metadata name are refused without resolving.
            let delivery = WebhookDelivery(policy: OutboundPolicy(), resolver: FixedResolver(answers: [:]))
            for url in ["http://127.0.0.1:\(port)/ready", "https://169.254.169.254/latest/meta-data/", "https://metadata.google.internal/", "https://[fe80::1]/"] {
                guard case .permanentFailure(let message) = await delivery.verify(url: url) else { Issue.record("\(url) was not refused"); continue }
                #expect(message.contains("loopback, private"), "\(url): \(message)")
            }
        }
        #expect(receiver.received.withLock(\.count) == 0)
    }

    @Test("an allowed name connects to the address that was checked, with the URL's Host, never resolving again")
    func connectsToCheckedAddress() async throws {
        let receiver = Receiver { _ in Response(status: .ok) }
        try await receiver.run { baseURL in
            let port = try #require(URL(string: baseURL)?.port)
            // `rebind.example` does not exist in DNS: only the injected answer can take the
            // request to the receiver, so a second (system) resolution would fail the test.
            let policy = try OutboundPolicy(parsing: "127.0.0.0/8")
            // The first answer is denied; the second, allowed, is the one connected to.
            let answer = try await OutboundHTTP(policy: policy, resolver: FixedResolver(answers: ["rebind.example": ["10.1.2.3", "127.0.0.1"]]))
                .execute(HTTPClientRequest(url: "http://rebind.example:\(port)/ready"), timeout: .seconds(30))
            #expect(answer.status == 200)
        }
        let hosts = receiver.received.withLock { $0.map { $0.headers.first(name: "Host") ?? "" } }
        #expect(hosts.count == 1)
        #expect(hosts.first?.hasPrefix("rebind.example") == true, "\(hosts)")
    }

    @Test("transport errors are short classes, without the operating system's detail")
    func transportErrorClasses() async throws {
        let delivery = WebhookDelivery(policy: .loopbackAllowed, timeout: .seconds(2))
        // Port 1 on loopback: refused.
        guard case .transientFailure(let refused, _) = await delivery.verify(url: "http://127.0.0.1:1/ready") else {
            Issue.record("not transient"); return
        }
        #expect(refused == "no answer (could not connect)")
        #expect(!refused.contains("errno") && !refused.contains("refused"))
        // TLS to a plain-HTTP listener: the handshake fails.
        let plain = Receiver()
        try await plain.run { baseURL in
            let port = try #require(URL(string: baseURL)?.port)
            guard case .transientFailure(let message, _) = await delivery.verify(url: "https://127.0.0.1:\(port)/ready") else {
                Issue.record("not transient"); return
            }
            #expect(message == "no answer (TLS failed)")
        }
        // A name that does not resolve.
        let unresolvable = WebhookDelivery(policy: OutboundPolicy(), resolver: FixedResolver(answers: [:]))
        #expect(await unresolvable.verify(url: "https://nowhere.example/") == .transientFailure("no answer (could not resolve the host)", retryAfter: nil))
    }
}
