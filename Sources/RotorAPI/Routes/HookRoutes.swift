import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorCore
import RotorCrypto
import RotorHTTP

/// `POST /v1/hooks/{id}`: a signed webhook rotates the trigger's credentials (DESIGN.md §4).
///
/// No bearer token: the signature over the raw body is the authentication, checked in constant
/// time before anything reads the body (which is never parsed: a verified call means "rotate").
/// A delivery id seen within 24 h answers what its first delivery answered and starts nothing.
enum HookRoutes {
    /// How long a delivery id is remembered.
    static let replayWindow: TimeInterval = 86_400
    /// Standard Webhooks' timestamp tolerance, both ways.
    static let tolerance: TimeInterval = 300

    /// `perTrigger` limits each trigger's verified deliveries; unsigned and badly signed requests
    /// never count against it (they are limited per source address, before this route), so
    /// nobody without the secret can make a trigger's real deliveries answer 429.
    static func register(on router: some RouteRegistering, services: RotationServices, triggers: any TriggerStore, perTrigger: RateLimiter?) {
        router.post("/v1/hooks/{id}") { request in
            // Audited as the trigger's doing: its signature is the caller's only identity.
            let actor = request.parameters["id"].map { "trigger:\($0)" } ?? "trigger"
            return try await Audit.$actor.withValue(actor) { try await self.receive(request, services, triggers, perTrigger) }
        }
    }

    private static func receive(_ request: Request, _ services: RotationServices, _ triggers: any TriggerStore, _ perTrigger: RateLimiter?) async throws -> Response {
        let now = services.clock.now()
        guard let id = request.parameters["id"].flatMap(TriggerID.init), let trigger = try await triggers.trigger(id) else {
            // Answered as a wrong signature is, so that trigger ids cannot be probed: checked
            // against a secret nobody has, in the scheme the request's headers claim.
            let claimed: WebhookTrigger.Scheme = request.headers.contains(name: "X-Hub-Signature-256") ? .github : .standardWebhooks
            _ = try self.verify(request, scheme: claimed, keys: [WebhookSecret.generate()], now: now)
            throw Self.invalid("No signature matches this trigger's secret.")
        }
        let keys = TriggerRoutes.verificationKeys(try await triggers.triggerSecrets(id, at: now), scheme: trigger.scheme)
        let deliveryID = try self.verify(request, scheme: trigger.scheme, keys: keys, now: now)
        if let perTrigger, case .limited(let retryAfter) = perTrigger.acquire(id.rawValue, now: NIODeadline.now().uptimeNanoseconds) {
            throw HTTPError.tooManyRequests(retryAfter: retryAfter)
        }

        let since = now.addingTimeInterval(-Self.replayWindow)
        if let first = try await triggers.hookDelivery(id, deliveryID: deliveryID, since: since) {
            request.logger.info("hook delivery replayed; nothing started", metadata: ["trigger": "\(id)"])
            return try await self.answer(first, replayed: true, services)
        }

        var jobs: [JobID] = []
        var started = false
        let reason = "Webhook trigger \(id) (delivery \(deliveryID))."
        for credentialID in trigger.credentialIDs {
            switch try await services.startOrJoin(credentialID, trigger: Trigger(kind: .webhook, source: id.rawValue), reason: reason, gracePeriod: .zero) {
            case .started(let job):
                jobs.append(job.id)
                started = true
            case .joined(let job):
                jobs.append(job.id)
            case .skipped(let why):
                request.logger.warning("hook skipped a credential: \(why)", metadata: ["trigger": "\(id)", "credential": "\(credentialID)"])
            }
        }
        if started { await services.wakeEngine() }
        let recorded = try await Audit.recording("trigger.hook", id.rawValue, at: now) {
            try await triggers.recordHookDelivery(id, deliveryID: deliveryID, jobs: jobs, at: now, since: since)
        }
        // A concurrent duplicate recorded first: it started (or joined) the same jobs.
        return try await self.answer(recorded, replayed: recorded != jobs, services)
    }

    /// Checks the signature; returns the delivery id replays are keyed by.
    private static func verify(_ request: Request, scheme: WebhookTrigger.Scheme, keys: [WebhookSecret], now: Date) throws(HTTPError) -> String {
        let body = request.body.readableBytesView
        switch scheme {
        case .standardWebhooks:
            guard let id = request.headers.first(name: "webhook-id"), let timestamp = request.headers.first(name: "webhook-timestamp"),
                let signature = request.headers.first(name: "webhook-signature")
            else {
                throw Self.invalid("The webhook-id, webhook-timestamp and webhook-signature headers are required (Standard Webhooks).")
            }
            guard (1...255).contains(id.utf8.count) else { throw Self.invalid("The webhook-id header must be 1 to 255 characters.") }
            do {
                try StandardWebhooks.verify(
                    id: id, timestamp: timestamp, signatureHeader: signature, body: body, secrets: keys, now: now, tolerance: Self.tolerance)
            } catch {
                switch error {
                case .malformed: throw Self.invalid("The webhook-timestamp must be Unix seconds and webhook-signature one or more 'v1,<base64>' entries.")
                case .staleTimestamp: throw Self.invalid("The webhook-timestamp is more than 5 minutes old.")
                case .futureTimestamp: throw Self.invalid("The webhook-timestamp is more than 5 minutes in the future.")
                case .invalidSignature: throw Self.invalid("No signature matches this trigger's secret.")
                }
            }
            return id
        case .github:
            guard let signature = request.headers.first(name: "X-Hub-Signature-256") else {
                throw Self.invalid("The X-Hub-Signature-256 header is required (GitHub webhooks).")
            }
            guard GitHubWebhookSignature.isValid(header: signature, body: body, secrets: keys) else {
                throw Self.invalid("X-Hub-Signature-256 does not match this trigger's secret.")
            }
            guard let delivery = request.headers.first(name: "X-GitHub-Delivery"), (1...255).contains(delivery.utf8.count) else {
                throw HTTPError.badRequest("The X-GitHub-Delivery header (1 to 255 characters) is required: replays are recognised by it.")
            }
            return delivery
        }
    }

    /// 401 `signature_invalid`.
    static func invalid(_ detail: String) -> HTTPError {
        HTTPError(.unauthorized, code: "signature_invalid", detail: detail, headers: ["WWW-Authenticate": #"Signature realm="rotor""#])
    }

    private static func answer(_ ids: [JobID], replayed: Bool, _ services: RotationServices) async throws -> Response {
        var jobs: [JobResource] = []
        for id in ids {
            if let job = try await services.store.job(id) { jobs.append(JobResource(job: job)) }
        }
        return try Response.json(HookResponse(jobs: jobs, replayed: replayed), status: .accepted)
    }
}
