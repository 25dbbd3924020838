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

    public func verify(key: Secret) async throws(ProviderError) {
        let response = try await self.send(.GET, "/v2/account", key: key)
        guard (200..<300).contains(response.status) else { throw Self.failure(response) }
    }

    public func createKey(name: String, expiresAt: Date?, using key: Secret) async throws(ProviderError) -> CreatedKey {
        let body = CreateRequest(name: name, expire: expiresAt != nil, dateExpire: expiresAt.map(ProviderHTTP.formatDate))
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
                createdAt: created.dateCreated.flatMap(ProviderHTTP.parseDate),
                expiresAt: created.dateExpire.flatMap(ProviderHTTP.parseDate)
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
                path += "&cursor=" + ProviderHTTP.queryValue(cursor)
            }
            let response = try await self.send(.GET, path, key: key)
            guard (200..<300).contains(response.status) else { throw Self.failure(response) }
            let page: ListResponse = try Self.decode(response)
            keys += page.apiKeys.map { listed in
                ProviderKey(
                    id: listed.id,
                    name: listed.name ?? "",
                    visibleSuffix: ProviderHTTP.visibleSuffix(of: listed.apiKey ?? ""),
                    createdAt: listed.dateCreated.flatMap(ProviderHTTP.parseDate),
                    expiresAt: listed.dateExpire.flatMap(ProviderHTTP.parseDate)
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
        let response = try await self.send(.DELETE, "/v2/apikeys/\(ProviderHTTP.pathSegment(id))", key: key)
        guard (200..<300).contains(response.status) || response.status == 404 else { throw Self.failure(response) }
    }

}

// MARK: - HTTP

extension VultrProvider {
    private func send(_ method: HTTPMethod, _ path: String, key: Secret, json: (some Encodable)? = Optional<Never>.none) async throws(ProviderError) -> ProviderHTTP.Response {
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
        return try await ProviderHTTP.send(request, client: self.client, timeout: self.requestTimeout, provider: "Vultr")
    }

    private static func failure(_ response: ProviderHTTP.Response) -> ProviderError {
        let message = (try? JSONDecoder().decode(ErrorResponse.self, from: Data(buffer: response.body)))?.error
            ?? HTTPResponseStatus(statusCode: response.status).reasonPhrase
        return ProviderError.classify(
            status: response.status,
            retryAfter: ProviderHTTP.retryAfter(response.headers),
            message: String(message.prefix(300))
        )
    }

    private static func decode<T: Decodable>(_ response: ProviderHTTP.Response) throws(ProviderError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: response.body))
        } catch {
            throw ProviderError(.permanent, status: response.status, message: "Vultr's answer was not the expected JSON")
        }
    }
}
