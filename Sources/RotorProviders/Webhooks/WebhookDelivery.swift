public import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
public import RotorCore
import RotorCrypto

/// Delivers target events as Standard Webhooks over AsyncHTTPClient (DESIGN.md §4, Targets).
///
/// A 2xx within the timeout (10 s) is a delivery; 408, 429, 5xx and network errors are transient;
/// any other answer is permanent. Redirects are not followed: a target that moved must be
/// updated, not chased.
public struct WebhookDelivery: TargetDelivery {
    let client: HTTPClient
    let timeout: TimeAmount

    /// Creates the deliverer. The client should not follow redirects.
    public init(client: HTTPClient, timeout: Duration = .seconds(10)) {
        self.client = client
        self.timeout = TimeAmount(timeout)
    }

    /// A client configured as deliveries need (no redirects).
    public static func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func deliver(_ event: TargetEvent, to target: Target, signingSecret: Secret) async -> DeliveryOutcome {
        if let problem = OutboundURL.problem(with: target.url) {
            return .permanentFailure("target URL \(problem)")
        }
        let secret: WebhookSecret
        do {
            secret = try WebhookSecret(encoded: signingSecret.reveal())
        } catch {
            return .permanentFailure("the target's signing secret is not a whsec_ secret")
        }
        let body = Self.body(for: event)
        let timestamp = Int(event.timestamp.timeIntervalSince1970)
        var request = HTTPClientRequest(url: target.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Rotor")
        request.headers.add(name: "webhook-id", value: event.id)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(name: "webhook-signature", value: StandardWebhooks.sign(id: event.id, timestamp: timestamp, body: body, secret: secret))
        request.body = .bytes(ByteBuffer(bytes: body))
        return await self.execute(request)
    }

    public func verify(url: String) async -> DeliveryOutcome {
        if let problem = OutboundURL.problem(with: url) {
            return .permanentFailure("verify URL \(problem)")
        }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: "Rotor")
        return await self.execute(request)
    }

    private func execute(_ request: HTTPClientRequest) async -> DeliveryOutcome {
        do {
            let response = try await self.client.execute(request, timeout: self.timeout)
            // The body is not needed; drain a little so the connection can be reused.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let status = Int(response.status.code)
            switch status {
            case 200..<300:
                return .delivered(status: status)
            case 408, 429, 500..<600:
                let retryAfter = response.headers.first(name: "Retry-After").flatMap(Int.init).map { Duration.seconds($0) }
                return .transientFailure("answered \(status)", retryAfter: retryAfter)
            default:
                return .permanentFailure("answered \(status)")
            }
        } catch {
            return .transientFailure("no answer (\(String(describing: error).prefix(120)))", retryAfter: nil)
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
