import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorHTTP
import Synchronization

extension FakeVultr {
    private static let defaultPerPage = 100
    private static let maxPerPage = 500
    private static let cursorPrefix = "next__"

    func registerRoutes(on router: Router) {
        router.post("/v2/apikeys") { [self] request in try self.create(request, subject: false) }
        router.get("/v2/apikeys") { [self] request in try self.list(request, subject: false) }
        router.get("/v2/apikeys/{id}") { [self] request in try self.get(request, subject: false) }
        router.delete("/v2/apikeys/{id}") { [self] request in try self.delete(request, subject: false) }
        // Another user's keys, through a manager key (vultr-api.md): the same calls and objects.
        router.post("/v2/users/{user}/apikeys") { [self] request in try self.create(request, subject: true) }
        router.get("/v2/users/{user}/apikeys") { [self] request in try self.list(request, subject: true) }
        router.get("/v2/users/{user}/apikeys/{id}") { [self] request in try self.get(request, subject: true) }
        router.delete("/v2/users/{user}/apikeys/{id}") { [self] request in try self.delete(request, subject: true) }
        router.get("/v2/account") { [self] request in try self.account(request) }
    }

    // MARK: Handlers

    private func create(_ request: Request, subject: Bool) throws -> Response {
        let body = try Self.decodeCreateBody(request.body)
        let expire = body.expire ?? (body.dateExpire != nil)
        var dateExpire: Date?
        if expire {
            guard let text = body.dateExpire else {
                throw VultrError.badRequest("date_expire is required when expire is true.")
            }
            guard let date = Timestamp.parse(text) else {
                throw VultrError.badRequest("date_expire must be an RFC 3339 timestamp.")
            }
            guard date > Date() else {
                throw VultrError.badRequest("date_expire must be in the future.")
            }
            dateExpire = date
        }
        let (key, drop) = try self.state.withLock { state throws(VultrError) in
            let userID = try Self.owner(request, subject: subject, in: state)
            let key = Self.insertKey(into: &state, userID: userID, name: body.name ?? "", expire: expire, dateExpire: dateExpire)
            state.counts[.create, default: RequestCounts()].succeeded += 1
            state.createdNames.append(key.name)
            let drop = state.dropsAfterCreate > 0
            if drop { state.dropsAfterCreate -= 1 }
            return (key, drop)
        }
        if drop {
            request.logger.debug("fake-vultr: dropping the connection after a create", metadata: ["key.id": "\(key.id)"])
            throw AbortConnection()
        }
        return try .json(KeyEnvelope(apiKey: APIKeyJSON(key, plaintext: true)), status: .created)
    }

    private func list(_ request: Request, subject: Bool) throws -> Response {
        let perPage: Int
        if let text = request.query["per_page"] {
            guard let value = Int(text), value >= 1 else {
                throw VultrError.badRequest("per_page must be a positive integer.")
            }
            perPage = min(value, Self.maxPerPage)
        } else {
            perPage = Self.defaultPerPage
        }
        var startSequence = 0
        if let cursor = request.query["cursor"], !cursor.isEmpty {
            guard let sequence = Self.decodeCursor(cursor) else {
                throw VultrError.badRequest("Invalid cursor.")
            }
            startSequence = sequence
        }
        let page = try self.state.withLock { state throws(VultrError) in
            let userID = try Self.owner(request, subject: subject, in: state)
            // Keyset paging on the creation sequence: a key deleted between pages does not shift
            // the others, so none is skipped or seen twice.
            let all = (state.keyIDsByUser[userID] ?? []).compactMap { state.keys[$0] }.sorted { $0.sequence < $1.sequence }
            let rest = all.drop { $0.sequence < startSequence }
            let items = Array(rest.prefix(perPage))
            let next = rest.count > perPage ? Self.encodeCursor(rest[rest.startIndex + perPage].sequence) : ""
            state.counts[.list, default: RequestCounts()].succeeded += 1
            return ListJSON(
                apiKeys: items.map { APIKeyJSON($0.key, plaintext: false) },
                meta: ListJSON.Meta(total: all.count, links: ListJSON.Links(next: next, prev: ""))
            )
        }
        return try .json(page)
    }

    private func get(_ request: Request, subject: Bool) throws -> Response {
        let id = try request.parameters.require("id")
        let key = try self.state.withLock { state throws(VultrError) in
            let userID = try Self.owner(request, subject: subject, in: state)
            guard let key = state.keys[id]?.key, key.userID == userID else { throw VultrError.keyNotFound }
            state.counts[.get, default: RequestCounts()].succeeded += 1
            return key
        }
        return try .json(KeyEnvelope(apiKey: APIKeyJSON(key, plaintext: false)))
    }

    private func delete(_ request: Request, subject: Bool) throws -> Response {
        let id = try request.parameters.require("id")
        try self.state.withLock { state throws(VultrError) in
            let userID = try Self.owner(request, subject: subject, in: state)
            guard let key = state.keys[id]?.key, key.userID == userID else { throw VultrError.keyNotFound }
            state.keys[id] = nil
            state.keyIDsBySecret[key.secret] = nil
            state.keyIDsByUser[userID]?.remove(id)
            state.deletedAt[id] = .now
            state.counts[.delete, default: RequestCounts()].succeeded += 1
        }
        return .noContent
    }

    private func account(_ request: Request) throws -> Response {
        let user = try self.state.withLock { state throws(VultrError) in
            let userID = try Self.authenticate(request, in: state)
            state.counts[.account, default: RequestCounts()].succeeded += 1
            return state.users[userID] ?? User(name: "", email: "")
        }
        return try .json(AccountEnvelope(account: AccountJSON(name: user.name, email: user.email)))
    }

    // MARK: Helpers

    /// Whose keys a request acts on: the caller's own, or, on `/v2/users/{user}/...`, the named
    /// user's, which only the account's root user or a user allowed to manage users may reach (403
    /// otherwise); a user of another account, or none, is 404.
    private static func owner(_ request: Request, subject: Bool, in state: State) throws(VultrError) -> String {
        let callerID = try Self.authenticate(request, in: state)
        guard subject else { return callerID }
        guard let target = request.parameters["user"] else { throw VultrError.userNotFound }
        guard let caller = state.users[callerID], caller.isRoot || caller.managesUsers else { throw VultrError.forbidden }
        guard let user = state.users[target], user.accountID == caller.accountID else { throw VultrError.userNotFound }
        return target
    }

    /// The user a request's bearer key belongs to; a missing, unknown, deleted or expired key is 401.
    private static func authenticate(_ request: Request, in state: State) throws(VultrError) -> String {
        guard let header = request.headers.first(name: "Authorization") else { throw VultrError.unauthorized }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw VultrError.unauthorized }
        let token = String(parts[1].trimmingCharacters(in: .whitespaces))
        guard let id = state.keyIDsBySecret[token], let key = state.keys[id]?.key else { throw VultrError.unauthorized }
        if let expiry = key.dateExpire, expiry <= Date() { throw VultrError.unauthorized }
        return key.userID
    }

    private static func decodeCreateBody(_ buffer: ByteBuffer) throws(VultrError) -> CreateBody {
        guard buffer.readableBytes > 0 else { return CreateBody() }
        do {
            return try JSONCoding.decoder.decode(CreateBody.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            switch error {
            case .typeMismatch(_, let context), .valueNotFound(_, let context):
                let field = context.codingPath.last?.stringValue
                throw VultrError.badRequest(field.map { "Invalid value for \($0)." } ?? "Invalid JSON body.")
            default:
                throw VultrError.badRequest("Invalid JSON body.")
            }
        } catch {
            throw VultrError.badRequest("Invalid JSON body.")
        }
    }

    static func encodeCursor(_ sequence: Int) -> String {
        Data((cursorPrefix + String(sequence)).utf8).base64EncodedString()
    }

    static func decodeCursor(_ cursor: String) -> Int? {
        guard let data = Data(base64Encoded: cursor), let text = String(data: data, encoding: .utf8),
            text.hasPrefix(cursorPrefix), let sequence = Int(text.dropFirst(cursorPrefix.count)), sequence >= 0
        else { return nil }
        return sequence
    }
}
