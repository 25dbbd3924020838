import Foundation
import NIOHTTP1
import RotorCore
import RotorHTTP

/// `GET /v1/credentials/{id}/secret`: how pull consumers fetch the current key (DESIGN.md §4).
///
/// Only for tokens given `secrets:read` and bound to this credential (`admin` does not imply it).
/// The read is appended to the audit log before the key leaves the store, so a key is never
/// served unaudited; a token bound elsewhere gets 404 and leaves a `denied` entry.
///
/// `?after_version=N` answers only with a version newer than N, else `204 No Content`; with
/// `&wait=PT60S` it long-polls (``KeyLongPoll``): the answer comes as soon as such a version is
/// current, so a consumer follows rotations without polling.
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
            var errors: [HTTPError.FieldError] = []
            var after: Int?
            if let text = request.query["after_version"] {
                if let number = Int(text), number >= 0 { after = number } else { errors.append(.init(field: "after_version", message: "must be a whole number from 0")) }
            }
            var wait: TimeInterval = 0
            do throws(HTTPError) { wait = try KeyLongPoll.waitSeconds(request) } catch { errors += error.errors }
            if request.query["wait"] != nil, after == nil, !errors.contains(where: { $0.field == "after_version" }) {
                errors.append(.init(field: "after_version", message: "is required with wait"))
            }
            guard errors.isEmpty else { throw HTTPError.invalidRequest("The query is invalid.", errors: errors) }
            guard try await services.store.credential(id) != nil else {
                throw HTTPError.notFound("No credential with this id exists.")
            }
            let read: @Sendable () async throws -> Response? = { [after] in
                if let after, let version = try await services.store.credential(id)?.version, version <= after { return nil }
                // Audited before the key leaves the store, at the moment it does.
                try await audit.appendAudit(AuditRecord(at: services.clock.now(), actor: principal.id, action: "secret.read", resource: id.rawValue))
                let (secret, version) = try await Self.currentKey(id, store: services.store)
                var response = try Response.json(SecretResponse(secret: secret.reveal(), version: version))
                response.headers.replaceOrAdd(name: "Cache-Control", value: "no-store")
                return response
            }
            guard after != nil else { return try await read() ?? .noContent }
            return try await KeyLongPoll.answer(id, waiting: wait, request, services, read: read)
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
