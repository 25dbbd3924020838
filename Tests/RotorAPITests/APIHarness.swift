import AsyncHTTPClient
import FakeVultr
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Prometheus
import RotorAPI
import RotorCore
import RotorCrypto
import RotorHTTP
import RotorProviders
import RotorSQLite

/// The v1 API with real parts behind it, for route tests: a ``SQLiteStore`` in a temporary
/// directory, a ``VultrProvider`` pointed at a running ``FakeVultr``, and the application's
/// responder, called in-process (or over a real socket with ``withServer(_:)``).
///
/// ```swift
/// try await APIHarness.run { api in
///     let user = api.fake.addUser()
///     let response = try await api.send(.POST, "/v1/credentials", json: [...])
///     #expect(response.status == .created)
/// }
/// ```
struct APIHarness: Sendable {
    /// The application under test.
    let responder: RouterResponder
    /// The store behind it (inspect or seed it directly).
    let store: any RotorStore
    /// The fake Vultr the provider talks to.
    let fake: FakeVultr
    /// The fake's base URL (`http://127.0.0.1:PORT`).
    let vultrBaseURL: String
    /// The services the responder was built with.
    let services: RotationServices
    /// The registry `GET /metrics` serves (this harness's own; nothing is bootstrapped globally).
    let metrics: PrometheusCollectorRegistry

    /// Runs `body` with a fresh harness; the fake stops and the temporary directory is removed
    /// afterwards. `configure` may change the services before the responder is built (for
    /// example to count `wakeEngine` calls or set a clock).
    static func run<T: Sendable>(
        wakeEngine: @escaping @Sendable () async -> Void = {},
        clock: any RotorClock = SystemClock(),
        configure: @escaping @Sendable (inout RotationServices) -> Void = { _ in },
        _ body: @escaping @Sendable (APIHarness) async throws -> T
    ) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("rotor.sqlite").path, keyring: Keyring.generate())
        let fake = FakeVultr(configuration: .init(rateLimitPerSecond: nil))
        return try await fake.run { baseURL in
            var services = RotationServices(
                store: store,
                providers: [.vultr: VultrProvider(baseURL: baseURL)],
                wakeEngine: wakeEngine,
                clock: clock
            )
            // The tests' targets and subscribers listen on loopback.
            services.outboundPolicy = .loopbackAllowed
            configure(&services)
            let metrics = PrometheusCollectorRegistry()
            let responder = RotorApplication.buildResponder(
                configuration: APIConfiguration(
                    authenticator: CompositeTokenAuthenticator([
                        AdminTokenAuthenticator(adminToken: AuthTests.token),
                        StoreTokenAuthenticator(store: store, clock: clock),
                    ]),
                    accessLogLevel: .trace,
                    services: services,
                    metrics: metrics
                )
            )
            let harness = APIHarness(
                responder: responder, store: store, fake: fake, vultrBaseURL: baseURL, services: services, metrics: metrics
            )
            return try await body(harness)
        }
    }

    /// One answer, with its body kept as text; ``json`` parses it.
    struct Reply: Sendable, CustomStringConvertible {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: String

        /// The body parsed as JSON (nil when empty or not JSON).
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(self.body.utf8), options: [.fragmentsAllowed]) }
        /// The body as a JSON object, or empty.
        var object: [String: Any] { self.json as? [String: Any] ?? [:] }
        /// A string member of the top-level object.
        subscript(_ key: String) -> String? { self.object[key] as? String }
        /// A problem's `code`.
        var code: String? { self["code"] }
        /// A problem's `errors[].field`s, in order.
        var fields: [String] { (self.object["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String } }
        /// The first `Location` header.
        var location: String? { self.headers.first(name: "Location") }

        var description: String { "\(self.status.code) \(self.body)" }
    }

    /// Sends a request in-process with the admin token (or `token`, or none when nil).
    ///
    /// - Parameters:
    ///   - json: a JSON value (`[String: Any]`, arrays, strings, numbers, `NSNull()`), sent as
    ///     `application/json`.
    ///   - body: raw body text instead, sent with `contentType`.
    func send(
        _ method: HTTPMethod,
        _ uri: String,
        json: Any? = nil,
        body: String? = nil,
        contentType: String = "application/json",
        headers: [String: String] = [:],
        token: String? = AuthTests.token
    ) async throws -> Reply {
        var requestHeaders = HTTPHeaders()
        if let token { requestHeaders.add(name: "Authorization", value: "Bearer \(token)") }
        var buffer = ByteBuffer()
        if let json {
            buffer = ByteBuffer(bytes: Array(try JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed])))
            requestHeaders.add(name: "Content-Type", value: contentType)
        } else if let body {
            buffer = ByteBuffer(string: body)
            requestHeaders.add(name: "Content-Type", value: contentType)
        }
        for (name, value) in headers { requestHeaders.replaceOrAdd(name: name, value: value) }
        let request = try Request(method: method, uri: uri, headers: requestHeaders, body: buffer, logger: Logger(label: "api-test"))
        let response = try await self.responder.respond(to: request)
        return Reply(status: response.status, headers: response.headers, body: String(buffer: response.body))
    }

    /// Serves the application on a real socket until `body` returns; `body` gets the base URL.
    func withServer<T: Sendable>(_ body: @Sendable (_ baseURL: String) async throws -> T) async throws -> T {
        try await HTTPServer.withRunningServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0),
            responder: self.responder,
            logger: Logger(label: "api-test")
        ) { address in
            try await body("http://127.0.0.1:\(address.port ?? 0)")
        }
    }
}
