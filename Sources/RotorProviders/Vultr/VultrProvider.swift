public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
public import RotorCore

/// Vultr's API keys (vultr-api.md) as a ``Provider``.
///
/// The base URL comes from configuration only (`ROTOR_VULTR_BASE_URL`), never from a request.
/// Every failure is classified for the engine: network errors, 408, 429 and 5xx are transient
/// (429 and 503 carry `Retry-After` when Vultr sends it); other statuses are permanent, except a
/// 404 on delete, which means the key is already gone.
public struct VultrProvider: Provider {
    public var kind: ProviderKind { .vultr }

    private let baseURL: String
    private let client: HTTPClient
    private let requestTimeout: TimeAmount

    /// Creates the provider. `baseURL` without a trailing slash, e.g. `https://api.vultr.com`.
    public init(baseURL: String = "https://api.vultr.com", client: HTTPClient = .shared, requestTimeout: Duration = .seconds(10)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.client = client
        self.requestTimeout = TimeAmount(requestTimeout)
    }

    /// A client for the provider whose connection pool lets `maximumConnections` calls to Vultr
    /// run at once: AsyncHTTPClient's default of 8 per host would hold the engine's concurrency
    /// limit (`ROTOR_MAX_CONCURRENT_JOBS`) to 8 whenever the provider is slow.
    public static func makeClient(maximumConnections: Int) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, maximumConnections)
        configuration.redirectConfiguration = .disallow
        // A refused or unreachable address fails the request at once, as a transient error the
        // engine retries with backoff, instead of the client reconnecting until the request's
        // deadline (a closed port held `POST /v1/credentials` for its whole 10 s).
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func verify(key: Secret) async throws(ProviderError) {
        let response = try await self.send(.GET, "/v2/account", key: key)
        guard (200..<300).contains(response.status) else { throw Self.failure(response) }
    }

    public func createKey(name: String, expiresAt: Date?, using key: Secret) async throws(ProviderError) -> CreatedKey {
        let body = CreateRequest(name: name, expire: expiresAt != nil, dateExpire: expiresAt.map(Self.formatDate))
        let response = try await self.send(.POST, "/v2/apikeys", key: key, json: body)
        // 201 or 200: vultr-api.md does not confirm which.
        guard (200..<300).contains(response.status) else { throw Self.failure(response) }
        let envelope: CreateResponse = try Self.decode(response)
        let created = envelope.apiKey
        guard let plaintext = created.apiKey, !plaintext.isEmpty else {
            throw ProviderError(.permanent, status: response.status, message: "Vultr answered the create without the new key")
        }
        return CreatedKey(
            key: ProviderKey(
                id: created.id,
                name: created.name ?? name,
                visibleSuffix: String(plaintext.suffix(5)),
                createdAt: created.dateCreated.flatMap(Self.parseDate),
                expiresAt: created.dateExpire.flatMap(Self.parseDate)
            ),
            secret: Secret(plaintext)
        )
    }

    public func listKeys(using key: Secret) async throws(ProviderError) -> [ProviderKey] {
        var keys: [ProviderKey] = []
        var cursor: String?
        var seenCursors: Set<String> = []
        // Follow meta.links.next when present (vultr-api.md: paging not confirmed). A repeated
        // cursor or an absurd page count ends the walk rather than looping forever.
        for _ in 0..<1_000 {
            var path = "/v2/apikeys?per_page=500"
            if let cursor {
                path += "&cursor=" + (cursor.addingPercentEncoding(withAllowedCharacters: .urlQueryValueAllowed) ?? cursor)
            }
            let response = try await self.send(.GET, path, key: key)
            guard (200..<300).contains(response.status) else { throw Self.failure(response) }
            let page: ListResponse = try Self.decode(response)
            keys += page.apiKeys.map { listed in
                ProviderKey(
                    id: listed.id,
                    name: listed.name ?? "",
                    visibleSuffix: Self.visibleSuffix(of: listed.apiKey ?? ""),
                    createdAt: listed.dateCreated.flatMap(Self.parseDate),
                    expiresAt: listed.dateExpire.flatMap(Self.parseDate)
                )
            }
            guard let next = page.meta?.links?.next, !next.isEmpty, seenCursors.insert(next).inserted else {
                return keys
            }
            cursor = next
        }
        return keys
    }

    public func deleteKey(id: String, using key: Secret) async throws(ProviderError) {
        let escaped = id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? id
        let response = try await self.send(.DELETE, "/v2/apikeys/\(escaped)", key: key)
        guard (200..<300).contains(response.status) || response.status == 404 else { throw Self.failure(response) }
    }

    /// The unmasked tail of a masked key: `*****...abcde` and `*******abcde` both give `abcde`.
    static func visibleSuffix(of masked: String) -> String {
        String(masked.reversed().prefix { $0 != "*" && $0 != "." }.reversed())
    }
}

// MARK: - HTTP

extension VultrProvider {
    struct RawResponse {
        var status: Int
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    private func send(_ method: HTTPMethod, _ path: String, key: Secret, json: (some Encodable)? = Optional<Never>.none) async throws(ProviderError) -> RawResponse {
        var request = HTTPClientRequest(url: self.baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(key.reveal())")
        request.headers.add(name: "Accept", value: "application/json")
        if let json {
            guard let data = try? JSONEncoder().encode(json) else {
                throw ProviderError(.permanent, message: "could not encode the request")
            }
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: data))
        }
        do {
            let response = try await self.client.execute(request, timeout: self.requestTimeout)
            let body = try await response.body.collect(upTo: 4 << 20)
            return RawResponse(status: Int(response.status.code), headers: response.headers, body: body)
        } catch {
            // No answer (refused, reset, timed out): the call may or may not have had its effect;
            // the engine's rules cover both, so it is retried.
            throw ProviderError(.transient(retryAfter: nil), message: "no answer from Vultr (\(Self.describeTransport(error)))")
        }
    }

    private static func describeTransport(_ error: any Error) -> String {
        // The class only ("could not connect", "timed out"), as for targets: job events are read
        // by API callers, and the operating system's detail is for nobody there.
        OutboundFailure.classify(error).description
    }

    private static func failure(_ response: RawResponse) -> ProviderError {
        let message = (try? JSONDecoder().decode(ErrorResponse.self, from: Data(buffer: response.body)))?.error
            ?? HTTPResponseStatus(statusCode: response.status).reasonPhrase
        return ProviderError.classify(
            status: response.status,
            retryAfter: Self.retryAfter(response.headers),
            message: String(message.prefix(300))
        )
    }

    /// `Retry-After` as seconds or an HTTP date.
    static func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        guard let value = headers.first(name: "Retry-After")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Int(value), seconds >= 0 { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .seconds(max(0, Int(date.timeIntervalSinceNow.rounded(.up))))
    }

    private static func decode<T: Decodable>(_ response: RawResponse) throws(ProviderError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: response.body))
        } catch {
            throw ProviderError(.permanent, status: response.status, message: "Vultr's answer was not the expected JSON")
        }
    }

    // Foundation's ISO 8601 format styles, made once: `ISO8601DateFormatter` builds an ICU
    // formatter on each use, which was a twentieth of the engine's CPU in `rotor-bench engine`.
    private static let internetDateTime = Date.ISO8601FormatStyle()
    private static let internetDateTimeWithFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func formatDate(_ date: Date) -> String {
        date.formatted(Self.internetDateTime)
    }

    static func parseDate(_ text: String) -> Date? {
        // Vultr writes `2024-01-01T00:00:00Z` and also `2024-01-01T00:00:00+00:00`, with or
        // without fractional seconds; an unparseable date is dropped rather than failing the call.
        if let date = try? Self.internetDateTime.parse(text) { return date }
        return try? Self.internetDateTimeWithFraction.parse(text)
    }
}

extension CharacterSet {
    /// Characters allowed unescaped in a query value.
    fileprivate static let urlQueryValueAllowed = CharacterSet.urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))
}
