public import Foundation
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
public import RotorCore
import RotorCrypto

/// Subscription events go out the same way as target events: Standard Webhooks, same client,
/// same timeout, same reading of the answer (DESIGN.md §4).
extension WebhookDelivery: EventSender {
    public func send(_ message: OutboxMessage, timestamp: Date) async -> (outcome: DeliveryOutcome, statusCode: Int?) {
        if let problem = OutboundURL.problem(with: message.url, policy: self.outbound.policy) {
            return (.permanentFailure("subscription URL \(problem)"), nil)
        }
        let secret: WebhookSecret
        do {
            secret = try WebhookSecret(encoded: message.signingSecret.reveal())
        } catch {
            return (.permanentFailure("the subscription's signing secret is not a whsec_ secret"), nil)
        }
        let id = message.event.id.rawValue
        // The signature's timestamp is the attempt's, not the event's: a retry hours later must
        // still pass the receiver's 5-minute tolerance. The body keeps the event's own time.
        let seconds = Int(timestamp.timeIntervalSince1970)
        var request = HTTPClientRequest(url: message.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Rotor")
        request.headers.add(name: "webhook-id", value: id)
        request.headers.add(name: "webhook-timestamp", value: String(seconds))
        request.headers.add(
            name: "webhook-signature", value: StandardWebhooks.sign(id: id, timestamp: seconds, body: message.event.payload, secret: secret))
        request.body = .bytes(ByteBuffer(bytes: message.event.payload))
        let result = await self.execute(request)
        return (result.outcome, result.statusCode)
    }
}
