import Foundation
import NIOHTTP1
import RotorCore
import RotorHTTP

/// `/v1/subscriptions`: who hears about jobs and credentials, and how their deliveries went
/// (DESIGN.md §4, Event subscriptions). Served when the store keeps subscriptions.
enum SubscriptionRoutes {
    /// The longest subscription URL accepted.
    static let maximumURLLength = 2048

    static func register(on v1: ScopedRoutes, services: RotationServices) {
        let store = services.store
        v1.post("/subscriptions") { request in try await self.create(request, store: store, services: services) }
        v1.get("/subscriptions") { request in
            let page = try await readPage(request, store.subscriptions)
            return try Response.json(ListResponse(data: page.items.map { SubscriptionResource(subscription: $0) }, nextCursor: page.nextCursor))
        }
        v1.get("/subscriptions/{id}") { request in
            let id = try request.id("id", as: SubscriptionID.self)
            guard let subscription = try await store.subscription(id) else { throw HTTPError.notFound("No subscription with this id exists.") }
            return try Response.json(SubscriptionResource(subscription: subscription))
        }
        v1.delete("/subscriptions/{id}") { request in
            let id = try request.id("id", as: SubscriptionID.self)
            do {
                try await Audit.recording("subscription.delete", id.rawValue, at: services.clock.now()) {
                    try await store.deleteSubscription(id)
                }
            } catch let error as StoreError where error.code == .notFound {
                throw HTTPError.notFound("No subscription with this id exists.")
            }
            return .noContent
        }
        v1.get("/subscriptions/{id}/deliveries") { request in
            let id = try request.id("id", as: SubscriptionID.self)
            let pageRequest = try pageRequest(request)
            guard try await store.subscription(id) != nil else { throw HTTPError.notFound("No subscription with this id exists.") }
            let page: Page<SubscriptionDelivery>
            do {
                page = try await store.deliveries(of: id, pageRequest)
            } catch let error as StoreError where error.code == .notFound {
                throw HTTPError.invalidRequest("The query is invalid.", errors: [.init(field: "cursor", message: "is not a cursor this list gave out")])
            }
            return try Response.json(ListResponse(data: page.items.map(DeliveryResource.init), nextCursor: page.nextCursor))
        }
    }

    private static func create(_ request: Request, store: any SubscriptionStore, services: RotationServices) async throws -> Response {
        let body = try request.decode(SubscriptionCreateBody.self)
        var errors: [HTTPError.FieldError] = []
        if let url = body.url {
            if url.utf8.count > Self.maximumURLLength {
                errors.append(.init(field: "url", message: "must be at most \(Self.maximumURLLength) characters"))
            } else if let problem = OutboundURL.problem(with: url, policy: services.outboundPolicy) {
                errors.append(.init(field: "url", message: problem))
            }
        } else {
            errors.append(.init(field: "url", message: "is required"))
        }
        var events: [EventType] = []
        if let names = body.events {
            if names.isEmpty { errors.append(.init(field: "events", message: "must name at least one event")) }
            let known = EventType.allCases.map(\.rawValue).joined(separator: ", ")
            for (index, name) in names.enumerated() {
                if let type = EventType(rawValue: name) {
                    events.append(type)
                } else {
                    errors.append(.init(field: "events[\(index)]", message: "must be one of \(known)"))
                }
            }
        } else {
            errors.append(.init(field: "events", message: "is required"))
        }
        guard errors.isEmpty, let url = body.url else {
            throw HTTPError.invalidBody(errors)
        }

        let subscription = Subscription(id: .generate(), url: url, events: events, createdAt: services.clock.now())
        let secret = services.generateSigningSecret()
        try await Audit.recording("subscription.create", subscription.id.rawValue, at: subscription.createdAt) {
            try await store.createSubscription(subscription, signingSecret: secret)
        }
        return try Response.json(
            SubscriptionResource(subscription: subscription, secret: secret),
            status: .created,
            headers: ["Location": "/v1/subscriptions/\(subscription.id.rawValue)"]
        )
    }
}
