public import Foundation
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
public import RotorCore
import RotorCrypto

/// Subscription events go out the same way as target events: Standard Webhooks, the same
/// outbound policy and timeout, the same reading of the answer (DESIGN.md §4).
extension WebhookDelivery: EventSender {
    public func send(_ message: OutboxMessage, timestamp: Date) async -> (outcome: DeliveryOutcome, statusCode: Int?) {
        if let problem = OutboundURL.problem(with: message.url) {
            return (.permanentFailure("subscription URL \(problem)"), nil)
        }
        let secret: WebhookSecret
        do {
            secret = try WebhookSecret(encoded: message.signingSecret.reveal())
        } catch {
            return (.permanentFailure("the subscription's signing secret is not a whsec_ secret"), nil)
        }
        // The signature's timestamp is the attempt's, not the event's: a retry hours later must
        // still pass the receiver's 5-minute tolerance. The body keeps the event's own time.
        let seconds = Int(timestamp.timeIntervalSince1970)
        let result = await self.execute(
            Self.signedPost(to: message.url, id: message.event.id.rawValue, timestamp: seconds, body: message.event.payload, secrets: [secret]))
        return (result.outcome, result.statusCode)
    }
}
