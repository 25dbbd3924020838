import Foundation
import NIOCore
import NIOHTTP1
import RotorCore
import RotorCrypto
import RotorHTTP

/// `/v1/triggers`: signed inbound webhooks that rotate credentials (DESIGN.md §4, Inbound
/// triggers). The signing secret is shown in the create and roll-secret answers only.
enum TriggerRoutes {
    /// The most credentials one trigger may rotate.
    static let maximumCredentials = 100
    /// How long a rolled-away secret keeps verifying unless the caller says otherwise.
    static let defaultOverlap: TimeInterval = 86_400
    /// The longest overlap a caller may ask for.
    static let maximumOverlap: TimeInterval = 7 * 86_400

    static func register(on v1: ScopedRoutes, services: RotationServices, triggers: any TriggerStore) {
        v1.post("/triggers") { request in try await self.create(request, services, triggers) }
        v1.get("/triggers") { request in
            let result = try await readPage(request, triggers.triggers)
            return try Response.json(ListResponse(data: result.items.map { TriggerResource(trigger: $0) }, nextCursor: result.nextCursor))
        }
        v1.get("/triggers/{id}") { request in
            let id = try request.id("id", as: TriggerID.self)
            guard let trigger = try await triggers.trigger(id) else { throw HTTPError.notFound("No trigger with this id exists.") }
            return try Response.json(TriggerResource(trigger: trigger))
        }
        v1.delete("/triggers/{id}") { request in
            let id = try request.id("id", as: TriggerID.self)
            do {
                try await Audit.recording("trigger.delete", id.rawValue, at: services.clock.now()) {
                    try await triggers.deleteTrigger(id)
                }
            } catch let error as StoreError where error.code == .notFound {
                throw HTTPError.notFound("No trigger with this id exists.")
            }
            return .noContent
        }
        v1.post("/triggers/{id}/roll-secret") { request in try await self.roll(request, services, triggers) }
    }

    private static func create(_ request: Request, _ services: RotationServices, _ triggers: any TriggerStore) async throws -> Response {
        let body = try request.decode(TriggerCreateBody.self)
        var errors: [HTTPError.FieldError] = []
        var scheme = WebhookTrigger.Scheme.standardWebhooks
        if let text = body.scheme {
            if let parsed = WebhookTrigger.Scheme(rawValue: text) {
                scheme = parsed
            } else {
                errors.append(.init(field: "scheme", message: "must be one of \"standard-webhooks\", \"github\""))
            }
        }
        if let description = body.description, description.count > 200 {
            errors.append(.init(field: "description", message: "must be at most 200 characters"))
        }
        var credentialIDs: [CredentialID] = []
        if let texts = body.credentialIDs {
            if !(1...Self.maximumCredentials).contains(texts.count) {
                errors.append(.init(field: "credential_ids", message: "must list 1 to \(Self.maximumCredentials) credentials"))
            }
            for (index, text) in texts.enumerated() {
                guard let id = CredentialID(text) else {
                    errors.append(.init(field: "credential_ids[\(index)]", message: "must be a credential id (cred_…)"))
                    continue
                }
                if credentialIDs.contains(id) {
                    errors.append(.init(field: "credential_ids[\(index)]", message: "is listed twice"))
                } else if try await services.store.credential(id) == nil {
                    errors.append(.init(field: "credential_ids[\(index)]", message: "names no credential"))
                } else {
                    credentialIDs.append(id)
                }
            }
        } else {
            errors.append(.init(field: "credential_ids", message: "is required"))
        }
        guard errors.isEmpty else { throw HTTPError.invalidBody(errors) }

        let trigger = WebhookTrigger(scheme: scheme, credentialIDs: credentialIDs, description: body.description, createdAt: services.clock.now())
        let secret = Self.generateSecret(for: scheme)
        try await Audit.recording("trigger.create", trigger.id.rawValue, at: trigger.createdAt) {
            try await triggers.createTrigger(trigger, secret: secret)
        }
        return try Response.json(
            TriggerResource(trigger: trigger, secret: secret.reveal()),
            status: .created,
            headers: ["Location": "/v1/triggers/\(trigger.id.rawValue)", "Cache-Control": "no-store"]
        )
    }

    private static func roll(_ request: Request, _ services: RotationServices, _ triggers: any TriggerStore) async throws -> Response {
        let id = try request.id("id", as: TriggerID.self)
        var overlap = Self.defaultOverlap
        if request.body.readableBytes > 0, let requested = try request.decode(TriggerRollBody.self).overlap {
            guard let seconds = requested.fixedSeconds, seconds <= Self.maximumOverlap else {
                throw HTTPError.invalidBody(field: "overlap", "must be a fixed duration of at most P7D (no years or months)")
            }
            overlap = seconds
        }
        guard let trigger = try await triggers.trigger(id) else { throw HTTPError.notFound("No trigger with this id exists.") }
        let secret = Self.generateSecret(for: trigger.scheme)
        let now = services.clock.now()
        let rolled: WebhookTrigger
        do {
            rolled = try await Audit.recording("trigger.roll_secret", id.rawValue, at: now) {
                try await triggers.rollTriggerSecret(id, to: secret, previousValidUntil: now.addingTimeInterval(overlap), at: now)
            }
        } catch let error as StoreError where error.code == .notFound {
            throw HTTPError.notFound("No trigger with this id exists.")
        }
        return try Response.json(TriggerResource(trigger: rolled, secret: secret.reveal()), headers: ["Cache-Control": "no-store"])
    }

    /// A fresh secret in the scheme's customary form: `whsec_<base64>` for Standard Webhooks,
    /// 64 hex digits for GitHub (whose HMAC key is the secret's text).
    static func generateSecret(for scheme: WebhookTrigger.Scheme) -> Secret {
        switch scheme {
        case .standardWebhooks: Secret(WebhookSecret.generate().encoded)
        case .github: Secret(SecureRandom.bytes(count: 32).hexString)
        }
    }

    /// The HMAC keys a stored secret stands for under `scheme`; an unreadable one is left out.
    static func verificationKeys(_ secrets: [Secret], scheme: WebhookTrigger.Scheme) -> [WebhookSecret] {
        secrets.compactMap { secret in
            switch scheme {
            case .standardWebhooks: try? WebhookSecret(encoded: secret.reveal())
            case .github: WebhookSecret(keyBytes: Array(secret.reveal().utf8))
            }
        }
    }
}
