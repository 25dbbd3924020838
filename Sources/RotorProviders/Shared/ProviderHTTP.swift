public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOFoundationCompat
public import NIOHTTP1
public import RotorCore

/// What every HTTP provider adapter shares (``VultrProvider`` and ``DefinedProvider``): the client
/// configuration, sending with transport errors classified, `Retry-After`, dates and masked keys.
public enum ProviderHTTP {
    /// A client for providers whose connection pool lets `maximumConnections` calls run at once:
    /// AsyncHTTPClient's default of 8 per host would hold the engine's concurrency limit
    /// (`ROTOR_MAX_CONCURRENT_JOBS`) to 8 whenever the provider is slow.
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

    /// A provider's answer, its body read whole (up to 4 MiB).
    struct Response {
        var status: Int
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    /// Sends `request`; an error without an answer is transient, described by its class only.
    static func send(
        _ request: HTTPClientRequest,
        client: HTTPClient,
        timeout: TimeAmount,
        provider: String
    ) async throws(ProviderError) -> Response {
        do {
            let response = try await client.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: 4 << 20)
            return Response(status: Int(response.status.code), headers: response.headers, body: body)
        } catch {
            // No answer (refused, reset, timed out): the call may or may not have had its effect;
            // the engine's rules cover both, so it is retried. The class only ("could not
            // connect", "timed out"): job events are read by API callers, and the operating
            // system's detail is for nobody there.
            throw ProviderError(.transient(retryAfter: nil), message: "no answer from \(provider) (\(OutboundFailure.classify(error)))")
        }
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

    /// A provider's error text as it may appear in a ``ProviderError``: at most 300 characters,
    /// and never the key the call used, should the provider echo it.
    static func safeMessage(_ message: String, hiding key: Secret) -> String {
        let revealed = key.reveal()
        let scrubbed = revealed.isEmpty ? message : message.replacingOccurrences(of: revealed, with: "[key]")
        return String(scrubbed.prefix(300))
    }

    // Foundation's ISO 8601 format styles, made once: `ISO8601DateFormatter` builds an ICU
    // formatter on each use, which was a twentieth of the engine's CPU in `rotor-bench engine`.
    private static let internetDateTime = Date.ISO8601FormatStyle()
    private static let internetDateTimeWithFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// RFC 3339 in UTC, whole seconds: `2030-01-02T03:04:05Z`.
    static func formatDate(_ date: Date) -> String {
        date.formatted(Self.internetDateTime)
    }

    /// `Z`, offset and fractional forms alike; nil for anything else (dropped, not guessed).
    static func parseDate(_ text: String) -> Date? {
        // Vultr writes `2024-01-01T00:00:00Z` and also `2024-01-01T00:00:00+00:00`, with or
        // without fractional seconds; an unparseable date is dropped rather than failing the call.
        if let date = try? Self.internetDateTime.parse(text) { return date }
        return try? Self.internetDateTimeWithFraction.parse(text)
    }

    /// The unmasked tail of a masked key: `*****...abcde` and `*******abcde` both give `abcde`.
    static func visibleSuffix(of masked: String) -> String {
        String(masked.reversed().prefix { $0 != "*" && $0 != "." }.reversed())
    }

    /// `text` escaped for one path segment (a `/` in an id must not open another).
    static func pathSegment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? text
    }

    /// `text` escaped for a query value.
    static func queryValue(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? text
    }
}
