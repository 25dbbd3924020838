public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
public import RotorCore

/// Any provider a ``ProviderDefinition`` describes, as a ``Provider``: one generic engine for
/// every provider declared as data.
///
/// The base URL comes from configuration, never from a request, and a listing's next links must
/// stay on it. Failures are classified as for ``VultrProvider``: network errors and the
/// definition's transient statuses are transient (with `Retry-After`), anything else is
/// permanent, except the delete's gone statuses, which mean the key is already gone. Error
/// messages come from the answer at the definition's `error_message` pointer, at most 300
/// characters, and never carry the key.
public struct DefinedProvider: Provider {
    /// What this provider is to the engine: the definition's name.
    public var kind: ProviderKind { ProviderKind(rawValue: self.definition.name) }
    /// The definition it runs.
    public let definition: ProviderDefinition

    private let baseURL: String
    private var subject: String?
    private let client: HTTPClient
    private let requestTimeout: TimeAmount

    /// Creates the provider. `baseURL` without a trailing slash, e.g. `https://api.vultr.com`.
    /// `subject` (the user whose keys a manager key manages) is only for a definition whose
    /// management is `manager`; without one, such a provider can only `verify`, and
    /// ``managing(subject:with:)`` makes the provider for one managed user.
    public init(
        definition: ProviderDefinition,
        baseURL: String,
        subject: String? = nil,
        client: HTTPClient = .shared,
        requestTimeout: Duration = .seconds(10)
    ) throws(DefinitionError) {
        switch (definition.management, subject) {
        case (.manager, .some("")):
            throw DefinitionError(file: definition.name, field: "subject", problem: "must not be empty")
        case (.selfManaged, .some):
            throw DefinitionError(file: definition.name, field: "subject", problem: "not allowed: with management: self, a key manages its own keys")
        default:
            break
        }
        self.definition = definition
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.subject = subject
        self.client = client
        self.requestTimeout = TimeAmount(requestTimeout)
    }

    public var isManagedThroughManager: Bool { self.definition.management == .manager }

    public func managing(subject: String, with managerKey: Secret) -> (any Provider)? {
        guard self.isManagedThroughManager, !subject.isEmpty else { return nil }
        var scoped = self
        scoped.subject = subject
        return ManagerKeyedProvider(scoped, managerKey: managerKey)
    }

    public func verify(key: Secret) async throws(ProviderError) {
        _ = try await self.call(self.definition.operations.verify, [:], key: key)
    }

    public func createKey(name: String, expiresAt: Date?, using key: Secret) async throws(ProviderError) -> CreatedKey {
        let create = self.definition.operations.create
        var values: [Template.Variable: String] = [.name: name]
        values[.expiresAt] = expiresAt.map(ProviderHTTP.formatDate)
        values[.expires] = expiresAt == nil ? nil : "true"
        let (response, json) = try await self.call(create.request, values, key: key)
        guard let plaintext = Self.string(create.secret.resolve(in: json)), !plaintext.isEmpty else {
            throw ProviderError(.permanent, status: response.status, message: "\(self.definition.displayName) returned no plaintext key at \(create.secret) in the create answer; the key's value cannot be recovered")
        }
        guard let id = Self.string(create.id.resolve(in: json)), !id.isEmpty else {
            throw ProviderError(.permanent, status: response.status, message: "\(self.definition.displayName)'s create answer has no key id at \(create.id)")
        }
        return CreatedKey(
            key: ProviderKey(
                id: id,
                name: create.name.flatMap { Self.string($0.resolve(in: json)) } ?? name,
                visibleSuffix: String(plaintext.suffix(self.definition.operations.list.suffixLength ?? 5)),
                createdAt: create.createdAt.flatMap { Self.date($0.resolve(in: json)) },
                expiresAt: create.expiresAt.flatMap { Self.date($0.resolve(in: json)) }
            ),
            secret: Secret(plaintext)
        )
    }

    public func listKeys(using key: Secret) async throws(ProviderError) -> [ProviderKey] {
        let list = self.definition.operations.list
        var keys: [ProviderKey] = []
        var url = self.url(list.request, [:])
        var seen: Set<String> = [url]
        var page: Int?
        if case .page(let param, let start, let perPageParam, let perPage) = list.pagination {
            page = start
            url = Self.appending(param, String(start), to: url)
            if let perPageParam, let perPage { url = Self.appending(perPageParam, String(perPage), to: url) }
        }
        let first = url
        // A repeated cursor or link, or an absurd page count, ends the walk rather than looping forever.
        for _ in 0..<1_000 {
            let (_, json) = try await self.call(list.request, [:], key: key, url: url)
            guard let items = list.items.resolve(in: json) as? [Any] else {
                throw ProviderError(.permanent, message: "\(self.definition.displayName)'s list answer has no list at \(list.items)")
            }
            for item in items {
                guard let id = Self.string(list.id.resolve(in: item)), !id.isEmpty else {
                    throw ProviderError(.permanent, message: "\(self.definition.displayName) listed a key without an id at \(list.id)")
                }
                // Without a masked key the suffix stays empty, which matches no secret: such keys
                // are found by id only.
                var suffix = list.masked.map { ProviderHTTP.visibleSuffix(of: Self.string($0.resolve(in: item)) ?? "") } ?? ""
                if let length = list.suffixLength { suffix = String(suffix.suffix(length)) }
                keys.append(
                    ProviderKey(
                        id: id,
                        name: list.name.flatMap { Self.string($0.resolve(in: item)) } ?? "",
                        visibleSuffix: suffix,
                        createdAt: list.createdAt.flatMap { Self.date($0.resolve(in: item)) },
                        expiresAt: list.expiresAt.flatMap { Self.date($0.resolve(in: item)) }
                    )
                )
            }
            let next: String
            switch list.pagination {
            case .none:
                return keys
            case .cursor(let param, let pointer):
                guard let cursor = Self.string(pointer.resolve(in: json)), !cursor.isEmpty else { return keys }
                next = Self.appending(param, cursor, to: first)
            case .nextLink(let pointer):
                guard let link = Self.string(pointer.resolve(in: json)), !link.isEmpty else { return keys }
                next = try self.sameBase(link)
            case .page(let param, _, let perPageParam, let perPage):
                if items.isEmpty || perPage.map({ items.count < $0 }) == true { return keys }
                page = (page ?? 0) + 1
                var pageURL = Self.appending(param, String(page ?? 0), to: self.url(list.request, [:]))
                if let perPageParam, let perPage { pageURL = Self.appending(perPageParam, String(perPage), to: pageURL) }
                next = pageURL
            }
            guard seen.insert(next).inserted else { return keys }
            url = next
        }
        return keys
    }

    public func deleteKey(id: String, using key: Secret) async throws(ProviderError) {
        let delete = self.definition.operations.delete
        _ = try await self.call(delete.request, [.keyID: id], key: key, alsoSuccess: delete.goneStatuses)
    }
}

// MARK: - HTTP

extension DefinedProvider {
    /// The request's URL with `values` (and the subject) in its path.
    private func url(_ request: ProviderDefinition.Request, _ values: [Template.Variable: String]) -> String {
        var values = values
        values[.subject] = self.subject
        return self.baseURL + request.path.render(values, escape: ProviderHTTP.pathSegment)
    }

    private static func appending(_ name: String, _ value: String, to url: String) -> String {
        url + (url.contains("?") ? "&" : "?") + ProviderHTTP.queryValue(name) + "=" + ProviderHTTP.queryValue(value)
    }

    /// `link` as a URL on the configured base URL; a link elsewhere is refused, so that an answer
    /// cannot send the key to another host.
    private func sameBase(_ link: String) throws(ProviderError) -> String {
        let absolute = link.hasPrefix("/") ? Self.origin(of: self.baseURL).map { $0 + link } : link
        guard let absolute, let origin = Self.origin(of: absolute), origin == Self.origin(of: self.baseURL),
            absolute.hasPrefix(self.baseURL + "/") || absolute.hasPrefix(self.baseURL + "?")
        else {
            throw ProviderError(.permanent, message: "\(self.definition.displayName)'s next page link leaves the configured base URL")
        }
        return absolute
    }

    /// `scheme://host[:port]`, lowercased, or nil for anything but an absolute http(s) URL.
    private static func origin(of url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = components.host?.lowercased(), !host.isEmpty
        else { return nil }
        return "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
    }

    /// Sends one call and answers its status and JSON (`NSNull` for an empty or non-JSON body).
    private func call(
        _ request: ProviderDefinition.Request,
        _ values: [Template.Variable: String],
        key: Secret,
        url: String? = nil,
        alsoSuccess: StatusSet? = nil
    ) async throws(ProviderError) -> (ProviderHTTP.Response, Any) {
        var values = values
        values[.subject] = self.subject
        if self.subject == nil, request.path.variables.contains(.subject) || request.body?.variables.contains(.subject) == true {
            throw ProviderError(.permanent, message: "\(self.definition.displayName) manages keys through a manager credential, and none was named")
        }
        var outgoing = HTTPClientRequest(url: url ?? self.url(request, values))
        outgoing.method = HTTPMethod(rawValue: request.method)
        self.authenticate(&outgoing, key: key)
        outgoing.headers.add(name: "Accept", value: "application/json")
        if let body = request.body {
            guard let json = body.render(values), let data = try? JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed, .sortedKeys]) else {
                throw ProviderError(.permanent, message: "could not encode the request")
            }
            outgoing.headers.add(name: "Content-Type", value: "application/json")
            outgoing.body = .bytes(ByteBuffer(data: data))
        }
        let response = try await ProviderHTTP.send(outgoing, client: self.client, timeout: self.requestTimeout, provider: self.definition.displayName)
        let json = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body), options: [.fragmentsAllowed])) ?? NSNull()
        guard request.success.contains(response.status) || alsoSuccess?.contains(response.status) == true else {
            let message = Self.string(self.definition.errorMessage.resolve(in: json)) ?? HTTPResponseStatus(statusCode: response.status).reasonPhrase
            let safe = ProviderHTTP.safeMessage(message, hiding: key)
            if self.definition.transientStatuses.contains(response.status) {
                throw ProviderError(.transient(retryAfter: ProviderHTTP.retryAfter(response.headers)), status: response.status, message: safe)
            }
            throw ProviderError(.permanent, status: response.status, message: safe)
        }
        return (response, json)
    }

    private func authenticate(_ request: inout HTTPClientRequest, key: Secret) {
        switch self.definition.auth {
        case .bearer:
            request.headers.add(name: "Authorization", value: "Bearer \(key.reveal())")
        case .header(let name, let prefix):
            request.headers.add(name: name, value: prefix + key.reveal())
        case .basic(let keyAs, let other):
            let pair = keyAs == .username ? "\(key.reveal()):\(other)" : "\(other):\(key.reveal())"
            request.headers.add(name: "Authorization", value: "Basic \(Data(pair.utf8).base64EncodedString())")
        }
    }

    /// A JSON string, or a number written as text (ids are sometimes numbers).
    private static func string(_ value: Any?) -> String? {
        switch value {
        case let text as String: text
        case let number as NSNumber: number.stringValue
        default: nil
        }
    }

    /// An RFC 3339 string, or a number of seconds since 1970; nil for anything else.
    private static func date(_ value: Any?) -> Date? {
        switch value {
        case let text as String: ProviderHTTP.parseDate(text)
        case let number as NSNumber: Date(timeIntervalSince1970: number.doubleValue)
        default: nil
        }
    }
}
