import AsyncHTTPClient
import FakeVultr
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Prometheus
import RotorAPI
import RotorAssembly
import RotorCore
import RotorCrypto
import RotorHTTP

/// The v1 API with real parts behind it, for route tests: Rotor as `rotor serve` assembles it
/// (``RotorAssembly``) on a ``SQLiteStore`` in a temporary directory, its Vultr provider pointed at
/// a running ``FakeVultr``, and the application's responder, called in-process (or over a real
/// socket with ``withServer(_:)``). Its engine is not started.
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

    /// How long a test's request over a real socket may take. In the suite's first seconds,
    /// hundreds of tests start at once on two cores and a request that crosses several tasks
    /// (a create verifies its key at the fake Vultr, then lists its keys) has taken 11 s; a
    /// deadline is for a server that never answers, not for a busy machine.
    static let socketDeadline: TimeAmount = .seconds(30)

    /// Runs `body` with a fresh harness; the fake and the assembly's clients stop and the
    /// temporary directory is removed afterwards.
    ///
    /// - Parameters:
    ///   - clock: the time the API and token expiry go by.
    ///   - providers: providers instead of Vultr at the fake (a provider a test scripts).
    static func run<T: Sendable>(
        clock: any RotorClock = SystemClock(),
        providers: [ProviderKind: any Provider]? = nil,
        _ body: @escaping @Sendable (APIHarness) async throws -> T
    ) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fake = FakeVultr(configuration: .init(rateLimitPerSecond: nil))
        return try await fake.run { baseURL in
            let settings = RotorAssembly.Settings(
                dataDirectory: directory.path,
                keyring: Keyring.generate(),
                adminToken: AuthTests.token,
                vultrBaseURL: baseURL,
                retry: RetryPolicy(),
                maxConcurrentJobs: 4,
                // The tests' targets and subscribers listen on loopback.
                outboundPolicy: .loopbackAllowed,
                clock: clock,
                providers: providers,
                accessLogLevel: .trace
            )
            return try await RotorAssembly.with(settings, logger: Logger(label: "api-harness")) { assembly in
                try await body(
                    APIHarness(
                        responder: assembly.responder, store: assembly.store, fake: fake, vultrBaseURL: baseURL, services: assembly.services,
                        metrics: assembly.metrics))
            }
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
