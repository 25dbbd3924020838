import Foundation
import RotorCore

/// `POST /v1/subscriptions`. Members are optional so that every missing or invalid one is
/// reported in one 422.
struct SubscriptionCreateBody: Decodable {
    var url: String?
    var events: [String]?
}

/// A subscription as the API shows it. `secret` is set only in the create response.
struct SubscriptionResource: Encodable {
    var subscription: Subscription
    var secret: Secret?

    enum CodingKeys: String, CodingKey {
        case id, url, events, secret
        case createdAt = "created_at"
        case deliveriesURL = "deliveries_url"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.subscription.id, forKey: .id)
        try container.encode(self.subscription.url, forKey: .url)
        try container.encode(self.subscription.events, forKey: .events)
        try container.encode(self.subscription.createdAt, forKey: .createdAt)
        try container.encode("/v1/subscriptions/\(self.subscription.id.rawValue)/deliveries", forKey: .deliveriesURL)
        if let secret = self.secret {
            // The one response that carries it (DESIGN.md §4: shown once).
            try container.encode(secret.reveal(), forKey: .secret)
        }
    }
}

/// One entry of `GET /v1/subscriptions/{id}/deliveries`. Optional members are always present,
/// as null when unset.
struct DeliveryResource: Encodable {
    var delivery: SubscriptionDelivery

    enum CodingKeys: String, CodingKey {
        case type, state, attempts
        case eventID = "event_id"
        case lastStatusCode = "last_status_code"
        case lastError = "last_error"
        case lastAttemptAt = "last_attempt_at"
        case nextAttemptAt = "next_attempt_at"
        case deliveredAt = "delivered_at"
        case createdAt = "created_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        let delivery = self.delivery
        try container.encode(delivery.eventID, forKey: .eventID)
        try container.encode(delivery.type, forKey: .type)
        try container.encode(delivery.state, forKey: .state)
        try container.encode(delivery.attempts, forKey: .attempts)
        try container.encode(delivery.lastStatusCode, forKey: .lastStatusCode)
        try container.encode(delivery.lastError, forKey: .lastError)
        try container.encode(delivery.lastAttemptAt, forKey: .lastAttemptAt)
        try container.encode(delivery.nextAttemptAt, forKey: .nextAttemptAt)
        try container.encode(delivery.deliveredAt, forKey: .deliveredAt)
        try container.encode(delivery.createdAt, forKey: .createdAt)
    }
}
