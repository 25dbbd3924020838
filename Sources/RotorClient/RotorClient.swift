import AsyncHTTPClient
package import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL

/// Why a call to Rotor did not give what was asked.
package enum RotorClientError: Error, Sendable {
    /// No answer: connection refused, name not resolved, TLS.
    case unreachable(String)
    /// No answer within the timeout.
    case timedOut(Duration)
    /// An answer with an error status and its problem+json.
    case refused(status: Int, Problem)
    /// An answer that is not what the API promises, or a name that names nothing.
    case unexpected(String)
}

/// Talks to Rotor's API for the operator commands (`rotor credentials`, `rotor rotate`, …), over
/// AsyncHTTPClient. Every request is one of ``Endpoint``'s operations; the token goes only in the
/// `Authorization` header (redirects are refused, so it goes nowhere else) and into no message.
package final class RotorClient: Sendable {
    private let http: HTTPClient
    private let base: String
    private let authorization: String?
    /// How long one request may take, the wait of a long-poll aside.
    package let timeout: Duration
    /// JSON as the API writes it: RFC 3339 timestamps.
    package static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// A client of the Rotor at `baseURL`; `timeout` bounds each request, and connecting unless
    /// `connectTimeout` says otherwise. HTTPS trusts the system's roots, plus the PEM
    /// certificates in `caFile` if given.
    package init(baseURL: String, token: String?, timeout: Duration, connectTimeout: Duration? = nil, caFile: String? = nil) throws {
        var configuration = HTTPClient.Configuration()
        if let caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caFile))]
            configuration.tlsConfiguration = tls
        }
        configuration.redirectConfiguration = .disallow
        // A closed port fails at once rather than being retried until the deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = TimeAmount(connectTimeout ?? timeout)
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.base = base
        self.authorization = token.map { "Bearer \($0)" }
        self.timeout = timeout
    }

    /// Closes the connections; call once, when done.
    package func shutdown() async {
        try? await self.http.shutdown()
    }

    /// Sends one request and returns the answer's body (empty for `204`). `id` fills the
    /// template's `{id}`; `waiting` lengthens the timeout by a long-poll's wait.
    package func send(
        _ endpoint: Endpoint, id: String? = nil, query: [(String, String)] = [], body: Data? = nil,
        headers: [(String, String)] = [], waiting: Duration = .zero
    ) async throws(RotorClientError) -> Data {
        var path = endpoint.template
        if let id { path = path.replacingOccurrences(of: "{id}", with: Self.encode(id)) }
        if !query.isEmpty { path += "?" + query.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&") }
        var request = HTTPClientRequest(url: self.base + path)
        request.method = HTTPMethod(rawValue: endpoint.method)
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        request.headers.add(name: "Accept", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        let limit = self.timeout + waiting
        let status: Int
        let bytes: ByteBuffer
        do {
            let response = try await self.http.execute(request, timeout: TimeAmount(limit))
            status = Int(response.status.code)
            bytes = try await response.body.collect(upTo: 16 << 20)
        } catch let error as HTTPClientError where [.deadlineExceeded, .readTimeout, .connectTimeout].contains(error) {
            throw .timedOut(limit)
        } catch {
            throw .unreachable(Self.reason(error))
        }
        let data = Data(buffer: bytes)
        guard (200..<300).contains(status) else {
            let problem = (try? Self.decoder.decode(Problem.self, from: data))
                ?? Problem(title: HTTPResponseStatus(statusCode: status).reasonPhrase, status: status)
            throw .refused(status: status, problem)
        }
        return data
    }

    /// ``send(_:id:query:body:headers:waiting:)`` decoded as `T`; also returns the body itself.
    package func fetch<T: Decodable>(
        _ type: T.Type, _ endpoint: Endpoint, id: String? = nil, query: [(String, String)] = [], body: Data? = nil,
        waiting: Duration = .zero
    ) async throws(RotorClientError) -> (value: T, json: Data) {
        let data = try await self.send(endpoint, id: id, query: query, body: body, waiting: waiting)
        return (try Self.decode(type, data), data)
    }

    /// Every item of a list endpoint, following `next_cursor`; `json` is the answer itself when
    /// one page held them all, else the pages' `data` joined under one `{"data": [...]}`.
    package func all<T: Decodable & Sendable>(
        _ type: T.Type, _ endpoint: Endpoint, query: [(String, String)] = []
    ) async throws(RotorClientError) -> (items: [T], json: Data) {
        var items: [T] = []
        var pages: [Data] = []
        var cursor: String?
        repeat {
            let (page, json) = try await self.fetch(Page<T>.self, endpoint, query: query + [("limit", "200")] + (cursor.map { [("cursor", $0)] } ?? []))
            items += page.data
            pages.append(json)
            cursor = page.nextCursor
        } while cursor != nil
        guard pages.count > 1 else { return (items, pages[0]) }
        let data = pages.flatMap { ((try? JSONSerialization.jsonObject(with: $0)) as? [String: Any])?["data"] as? [Any] ?? [] }
        let joined = (try? JSONSerialization.data(withJSONObject: ["data": data, "next_cursor": NSNull()], options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return (items, joined)
    }

    /// The id of the resource named `text`, or `text` itself when it is an id (`prefix_…`).
    package func resolve<T: Named>(_ text: String, _ type: T.Type) async throws(RotorClientError) -> String {
        if text.hasPrefix(T.idPrefix + "_") { return text }
        let matches = try await self.all(type, T.list).items.filter { $0.name == text }
        guard let match = matches.first else { throw .unexpected("No \(T.noun) is named \"\(text)\".") }
        guard matches.count == 1 else { throw .unexpected("\(matches.count) \(T.noun)s are named \"\(text)\": give an id.") }
        return match.id
    }

    /// ``resolve(_:_:)`` for a credential.
    package func credentialID(_ text: String) async throws(RotorClientError) -> String {
        try await self.resolve(text, CredentialSummary.self)
    }

    /// `data` as `T`, or ``RotorClientError/unexpected(_:)``.
    package static func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws(RotorClientError) -> T {
        do {
            return try self.decoder.decode(type, from: data)
        } catch {
            throw .unexpected("Rotor answered something that is not a \(type): \(error)")
        }
    }

    /// What went wrong, without the request (whose headers hold the token).
    private static func reason(_ error: any Error) -> String {
        let text = String(describing: error)
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }

    private static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~:"))) ?? text
    }
}
