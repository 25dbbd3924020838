import NIOHTTP1
import RotorCore
import RotorHTTP

/// `GET /v1/credentials/{id}/secret`: how pull consumers fetch the current key (DESIGN.md §4).
///
/// Only for tokens given `secrets:read` and bound to this credential (`admin` does not imply it).
/// The read is appended to the audit log before the key leaves the store, so a key is never
/// served unaudited; a token bound elsewhere gets 404 and leaves a `denied` entry.
enum SecretRoutes {
    static func register(on v1: ScopedRoutes, services: RotationServices) {
        let audit = services.store
        v1.get("/credentials/{id}/secret") { request in
            let id = try request.id("id", as: CredentialID.self)
            guard let principal = request.principal else { throw HTTPError.unauthorized("This endpoint needs an 'Authorization: Bearer <token>' header.") }
            let now = services.clock.now()
            guard principal.credentialIDs != nil, principal.mayAct(on: id) else {
                try await audit.appendAudit(AuditRecord(at: now, actor: principal.id, action: "secret.read", resource: id.rawValue, outcome: "denied"))
                throw HTTPError.notFound("No credential with this id exists.")
            }
            guard try await services.store.credential(id) != nil else {
                throw HTTPError.notFound("No credential with this id exists.")
            }
            try await audit.appendAudit(AuditRecord(at: now, actor: principal.id, action: "secret.read", resource: id.rawValue))
            let (secret, version) = try await Self.currentKey(id, store: services.store)
            var response = try Response.json(SecretResponse(secret: secret.reveal(), version: version))
            response.headers.replaceOrAdd(name: "Cache-Control", value: "no-store")
            return response
        }
    }

    /// The current key with the version it belongs to. Key and version are two reads; a rotation
    /// committing between them would pair a key with the wrong version, so the version is read
    /// on both sides and the pair taken only when it did not move.
    static func currentKey(_ id: CredentialID, store: any Store) async throws -> (Secret, Int) {
        for _ in 0..<5 {
            guard let before = try await store.credential(id)?.version else { throw HTTPError.notFound("No credential with this id exists.") }
            let secrets = try await store.credentialSecrets(id)
            if try await store.credential(id)?.version == before { return (secrets.current, before) }
        }
        throw HTTPError.conflict(code: "conflict", "The credential kept rotating while its key was read; retry the request.")
    }
}
