import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
public import RotorCore
import RotorCrypto

/// Delivers target events as Standard Webhooks over AsyncHTTPClient (DESIGN.md §4, Targets).
///
/// A 2xx within the timeout (10 s) is a delivery; 408, 429, 5xx and network errors are transient;
/// any other answer, and an address the outbound policy denies, is permanent. Redirects are not
/// followed: a target that moved must be updated, not chased.
public struct WebhookDelivery: TargetDelivery {
    let outbound: OutboundHTTP
    let timeout: TimeAmount

    /// Creates the deliverer: requests go where `policy` allows (``OutboundHTTP``).
    public init(policy: OutboundPolicy, resolver: any HostResolver = SystemHostResolver(), timeout: Duration = .seconds(10)) {
        self.outbound = OutboundHTTP(policy: policy, resolver: resolver)
        self.timeout = TimeAmount(timeout)
    }

    public func deliver(_ event: TargetEvent, to target: Target, signingSecret: Secret) async -> DeliveryOutcome {
        await self.deliver(event, to: target, signingSecrets: [signingSecret]).outcome
    }

    public func verify(url: String) async -> DeliveryOutcome {
        await self.check(url: url).outcome
    }

    /// Signs with every secret given: `webhook-signature` carries one `v1,<base64>` per secret,
    /// space-separated, so a receiver that knows either secret verifies the delivery while a
    /// target's secret is being rolled.
    public func deliver(_ event: TargetEvent, to target: Target, signingSecrets: [Secret]) async -> DeliveryResult {
        // The URL's form only: the outbound policy is applied once, by ``OutboundHTTP``, to the
        // address the host resolves to when connecting.
        if let problem = OutboundURL.problem(with: target.url) {
            return DeliveryResult(.permanentFailure("target URL \(problem)"), statusCode: nil)
        }
        var secrets: [WebhookSecret] = []
        for signingSecret in signingSecrets {
            guard let secret = try? WebhookSecret(encoded: signingSecret.reveal()) else {
                return DeliveryResult(.permanentFailure("the target's signing secret is not a whsec_ secret"), statusCode: nil)
            }
            secrets.append(secret)
        }
        guard !secrets.isEmpty else { return DeliveryResult(.permanentFailure("the target has no signing secret"), statusCode: nil) }
        let timestamp = Int(event.timestamp.timeIntervalSince1970)
        return await self.execute(Self.signedPost(to: target.url, id: event.id, timestamp: timestamp, body: Self.body(for: event), secrets: secrets))
    }

    /// A Standard Webhooks POST of `body` to `url`, as targets and subscribers both get it:
    /// `webhook-signature` carries one `v1,<base64>` per secret, space-separated.
    static func signedPost(to url: String, id: String, timestamp: Int, body: [UInt8], secrets: [WebhookSecret]) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Rotor")
        request.headers.add(name: "webhook-id", value: id)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        let signatures = secrets.map { StandardWebhooks.sign(id: id, timestamp: timestamp, body: body, secret: $0) }
        request.headers.add(name: "webhook-signature", value: signatures.joined(separator: " "))
        request.body = .bytes(ByteBuffer(bytes: body))
        return request
    }

    public func check(url: String) async -> DeliveryResult {
        if let problem = OutboundURL.problem(with: url) {
            return DeliveryResult(.permanentFailure("verify URL \(problem)"), statusCode: nil)
        }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: "Rotor")
        return await self.execute(request)
    }

    /// Sends `request` and reads the answer as deliveries and subscription events both do.
    func execute(_ request: HTTPClientRequest) async -> DeliveryResult {
        let answer: OutboundHTTP.Answer
        do {
            answer = try await self.outbound.execute(request, timeout: self.timeout)
        } catch .denied {
            return DeliveryResult(.permanentFailure(OutboundFailure.denied.description), statusCode: nil)
        } catch {
            return DeliveryResult(.transientFailure("no answer (\(error))", retryAfter: nil), statusCode: nil)
        }
        switch answer.status {
        case 200..<300:
            return DeliveryResult(.delivered(status: answer.status), statusCode: answer.status)
        case 408, 429, 500..<600:
            let retryAfter = answer.headers.first(name: "Retry-After").flatMap(Int.init).map { Duration.seconds($0) }
            return DeliveryResult(.transientFailure("answered \(answer.status)", retryAfter: retryAfter), statusCode: answer.status)
        default:
            return DeliveryResult(.permanentFailure("answered \(answer.status)"), statusCode: answer.status)
        }
    }

    /// The Standard Webhooks payload: `{"type", "timestamp", "data": {...}}`, `secret` only in
    /// `key.pending`.
    static func body(for event: TargetEvent) -> [UInt8] {
        struct Payload: Encodable {
            struct Data: Encodable {
                var credentialID: String
                var credentialName: String
                var jobID: String
                var version: Int
                var providerKeyID: String
                var secret: String?

                enum CodingKeys: String, CodingKey {
                    case credentialID = "credential_id"
                    case credentialName = "credential_name"
                    case jobID = "job_id"
                    case version
                    case providerKeyID = "provider_key_id"
                    case secret
                }
            }

            var type: String
            var timestamp: Date
            var data: Data
        }
        let payload = Payload(
            type: event.kind.rawValue,
            timestamp: event.timestamp,
            data: .init(
                credentialID: event.credentialID.rawValue,
                credentialName: event.credentialName,
                jobID: event.jobID.rawValue,
                version: event.version,
                providerKeyID: event.providerKeyID,
                secret: event.secret?.reveal()
            )
        )
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings, ints and a date cannot fail.
        return Array((try? encoder.encode(payload)) ?? Foundation.Data())
    }
}
