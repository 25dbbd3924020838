import Foundation
import NIOCore
import NIOHTTP1
import RotorCore
import RotorHTTP

/// A target's signing secret and its delivery log (DESIGN.md §4, Targets):
/// `POST /v1/credentials/{id}/targets/{target_id}/roll-secret` and `GET /v1/jobs/{id}/deliveries`.
enum TargetRoutes {
    /// The overlap a roll keeps the old secret for when the body names none.
    static let defaultOverlap = try! ISODuration(parsing: "PT24H")
    /// The longest overlap a roll may ask for.
    static let maximumOverlap: TimeInterval = 30 * 86_400

    static func register(on v1: ScopedRoutes, services: RotationServices) {
        v1.post("/credentials/{id}/targets/{target_id}/roll-secret") { request in
            try await self.rollSecret(request, services: services)
        }
        v1.get("/jobs/{id}/deliveries") { request in
            let id = try request.id("id", as: JobID.self)
            let page = try pageRequest(request)
            let log = services.store
            guard let job = try await services.store.job(id), request.principal?.mayAct(on: job.credentialID) ?? false else {
                throw HTTPError.notFound("No job \(id).")
            }
            let result: Page<TargetDeliveryRecord>
            do {
                result = try await log.deliveries(id, page)
            } catch let error as StoreError where error.code == .notFound {
                throw HTTPError.invalidRequest("The query is invalid.", errors: [.init(field: "cursor", message: "is not a cursor this list gave out")])
            }
            return try Response.json(ListResponse(data: result.items, nextCursor: result.nextCursor))
        }
    }

    /// Gives the target a new `whsec_` secret, shown in this response only. The old one keeps
    /// signing deliveries too (a second signature) until the overlap ends, so the consumer can
    /// switch over without dropping any.
    private static func rollSecret(_ request: Request, services: RotationServices) async throws -> Response {
        let id = try request.id("id", as: CredentialID.self)
        _ = try request.require(.credentialsWrite, on: id)
        let targetID = try request.id("target_id", as: TargetID.self)
        var overlap = Self.defaultOverlap
        if request.body.readableBytes > 0 {
            let body = try request.decode(RollSecretBody.self)
            if let text = body.overlap {
                guard let duration = try? ISODuration(parsing: text), let seconds = duration.fixedSeconds, seconds <= Self.maximumOverlap else {
                    throw HTTPError.invalidBody(field: "overlap", "must be a fixed ISO 8601 duration of at most P30D (PT0S ends the old secret at once)")
                }
                overlap = duration
            }
        }
        let store = services.store
        let now = services.clock.now()
        let secret = services.generateSigningSecret()
        let credential: Credential
        credential = try await Audit.recording("target.roll_secret", targetID.rawValue, at: now) {
            try await store.rollSigningSecret(
                credential: id,
                target: targetID,
                to: secret,
                overlapUntil: overlap.isZero ? nil : overlap.adding(to: now),
                at: now
            )
        }
        guard let target = credential.targets.first(where: { $0.id == targetID }) else {
            throw HTTPError.notFound("The credential has no such target.")
        }
        return try Response.json(TargetResource(target: target, signingSecret: secret.reveal()))
    }
}

/// `POST /v1/credentials/{id}/targets/{target_id}/roll-secret`: the body is optional.
struct RollSecretBody: Decodable {
    var overlap: String?
}
