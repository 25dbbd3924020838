import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorHTTP
import Synchronization

/// A failed call, answered in the shape's error JSON.
struct ShapedError: Error {
    var status: HTTPResponseStatus
    var message: String
    var headers: HTTPHeaders = [:]
}

/// Answers every error in the provider's JSON, the router's own 404 and 405 included; anything
/// unexpected is a bare 500. ``AbortConnection`` passes through.
struct ShapedErrorMiddleware: Middleware {
    let shape: KeyAPIShape

    func respond(to request: Request, next: Responder) async throws -> Response {
        do {
            return try await next(request)
        } catch let error as ShapedError {
            return self.response(error)
        } catch let error as HTTPError {
            var headers = error.headers
            headers.remove(name: "WWW-Authenticate")
            let message = error.status == .notFound ? self.shape.notFound : error.detail
            return self.response(ShapedError(status: error.status, message: message, headers: headers))
        } catch let abort as AbortConnection {
            throw abort
        } catch {
            request.logger.error("fake-providers: unhandled error", metadata: ["error.type": "\(type(of: error))"])
            return self.response(ShapedError(status: .internalServerError, message: "Internal server error"))
        }
    }

    private func response(_ error: ShapedError) -> Response {
        var headers = error.headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        let body = (try? JSONSerialization.data(withJSONObject: self.shape.errorJSON(error.status, error.message))) ?? Data()
        return Response(status: error.status, headers: headers, body: body)
    }
}

extension FakeKeyAPI {
    func registerRoutes(on router: Router) {
        let shape = self.shape
        self.route(router, .GET, shape.verifyPath, .verify) { [self] request in try self.verify(request) }
        self.route(router, .POST, shape.keysPath, .create) { [self] request in try self.create(request) }
        self.route(router, .GET, shape.keysPath, .list) { [self] request in try self.list(request) }
        self.route(router, .DELETE, shape.keysPath + "/{id}", .delete) { [self] request in try self.delete(request) }
    }

    /// Registers `handler`, behind the rate limit and the faults: they apply before auth, as at
    /// the real edge.
    private func route(_ router: Router, _ method: HTTPMethod, _ path: String, _ operation: Operation, _ handler: @escaping @Sendable (Request) throws -> Response) {
        router.on(method, path) { [self] request in
            let (latency, refusal) = self.admit(request, operation)
            if let latency { try await Task.sleep(for: latency) }
            if let refusal { throw refusal }
            return try handler(request)
        }
    }

    private func admit(_ request: Request, _ operation: Operation) -> (Duration?, ShapedError?) {
        let source = request.remoteAddress?.ipAddress ?? "unknown"
        let shape = self.shape
        return self.state.withLock { state in
            state.counts[operation, default: RequestCounts()].received += 1
            let latency = state.faults.latency(for: operation)
            if var windows = state.rateWindows {
                let (allowed, resetIn) = windows.admit(source, now: .now)
                state.rateWindows = windows
                if !allowed {
                    return (latency, ShapedError(status: .tooManyRequests, message: shape.tooManyRequests, headers: shape.rateLimitHeaders(resetIn)))
                }
            }
            switch state.faults.take(for: operation) {
            case .fail(let status):
                return (latency, ShapedError(status: status, message: "Injected failure (\(status.code))"))
            case .rateLimit(let retryAfter):
                return (latency, ShapedError(status: .tooManyRequests, message: shape.tooManyRequests, headers: shape.rateLimitHeaders(retryAfter)))
            case nil:
                return (latency, nil)
            }
        }
    }

    // MARK: Handlers

    private func verify(_ request: Request) throws -> Response {
        let account = try self.state.withLock { state throws(ShapedError) in
            let account = try self.authenticate(request, in: state)
            if let named = request.parameters["account"], named != account {
                throw ShapedError(status: .notFound, message: self.shape.notFound)
            }
            state.counts[.verify, default: RequestCounts()].succeeded += 1
            return account
        }
        return try self.json(self.shape.verifyJSON(account))
    }

    private func create(_ request: Request) throws -> Response {
        let body = (try? JSONSerialization.jsonObject(with: Data(request.body.readableBytesView))) as? [String: Any]
        guard let body else { throw ShapedError(status: .badRequest, message: "Invalid JSON body") }
        guard let name = body[self.shape.nameField] as? String else {
            throw ShapedError(status: .badRequest, message: "\(self.shape.nameField) is required")
        }
        var expiresAt: Date?
        if let field = self.shape.expiryField, let text = body[field] as? String {
            guard let date = Self.parseDate(text), date > Date() else {
                throw ShapedError(status: .badRequest, message: "\(field) must be a date in the future")
            }
            expiresAt = date
        }
        let (key, drop) = try self.state.withLock { state throws(ShapedError) in
            let account = try self.authenticate(request, in: state)
            if let field = self.shape.bearerField {
                guard let bearer = body[field] as? String, !bearer.isEmpty else {
                    throw ShapedError(status: .badRequest, message: "\(field) is required")
                }
                guard bearer == account else { throw ShapedError(status: .forbidden, message: "insufficient permissions") }
            }
            let key = self.insertKey(into: &state, accountID: account, name: name, expiresAt: expiresAt)
            state.counts[.create, default: RequestCounts()].succeeded += 1
            state.createdNames.append(name)
            return (key, state.faults.takeDrop())
        }
        if drop {
            request.logger.debug("fake-providers: dropping the connection after a create", metadata: ["key.id": "\(key.id)"])
            throw AbortConnection()
        }
        return try self.json(self.shape.keyJSON(key, true), status: self.shape.createStatus)
    }

    private func list(_ request: Request) throws -> Response {
        var page = 1
        let size: Int
        switch self.shape.pagination {
        case .pages(let param, let sizeParam, let defaultSize, let maxSize):
            page = try Self.integer(request, param, in: 1...Int.max) ?? 1
            size = try Self.integer(request, sizeParam, in: 1...maxSize) ?? defaultSize
        case .limit(let param, let maxSize):
            size = try Self.integer(request, param, in: 1...maxSize) ?? maxSize
        }
        let shape = self.shape
        let (items, total) = try self.state.withLock { state throws(ShapedError) in
            let account = try self.authenticate(request, in: state)
            var all = Self.keys(of: account, in: state)
            if let filter = shape.bearerFilter, let bearer = request.query[filter], bearer != account { all = [] }
            state.counts[.list, default: RequestCounts()].succeeded += 1
            return (Array(all.dropFirst((page - 1) * size).prefix(size)), all.count)
        }
        let pages = max(1, (total + size - 1) / size)
        return try self.json(shape.listJSON(items.map { shape.keyJSON($0, false) }, page, pages, total))
    }

    private func delete(_ request: Request) throws -> Response {
        let id = try request.parameters.require("id")
        try self.state.withLock { state throws(ShapedError) in
            let account = try self.authenticate(request, in: state)
            guard let key = state.keys[id]?.key, key.accountID == account else {
                throw ShapedError(status: .notFound, message: self.shape.notFound)
            }
            state.keys[id] = nil
            state.keyIDsBySecret[key.secret] = nil
            state.counts[.delete, default: RequestCounts()].succeeded += 1
        }
        guard self.shape.deleteStatus != .noContent else { return .noContent }
        return try self.json([String: Any](), status: self.shape.deleteStatus)
    }

    // MARK: Helpers

    /// The account a request's key belongs to; a missing, unknown, deleted or expired key is 401.
    private func authenticate(_ request: Request, in state: State) throws(ShapedError) -> String {
        let unauthorized = ShapedError(status: .unauthorized, message: self.shape.unauthorized)
        guard let header = request.headers.first(name: self.shape.authHeader), header.hasPrefix(self.shape.authPrefix) else { throw unauthorized }
        let token = String(header.dropFirst(self.shape.authPrefix.count)).trimmingCharacters(in: .whitespaces)
        guard let id = state.keyIDsBySecret[token], let key = state.keys[id]?.key else { throw unauthorized }
        if let expiry = key.expiresAt, expiry <= Date() { throw unauthorized }
        return key.accountID
    }

    private func json(_ value: Any, status: HTTPResponseStatus = .ok) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])
        return Response(status: status, headers: ["Content-Type": "application/json"], body: data)
    }

    private static func integer(_ request: Request, _ name: String, in range: ClosedRange<Int>) throws(ShapedError) -> Int? {
        guard let text = request.query[name] else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw ShapedError(status: .badRequest, message: "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// RFC 3339 with or without fractional seconds, or Linode's zoneless UTC form.
    static func parseDate(_ text: String) -> Date? {
        let zoned = text.hasSuffix("Z") || text.range(of: #"[+-]\d\d:\d\d$"#, options: .regularExpression) != nil ? text : text + "Z"
        if let date = try? Date.ISO8601FormatStyle().parse(zoned) { return date }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(zoned)
    }
}
