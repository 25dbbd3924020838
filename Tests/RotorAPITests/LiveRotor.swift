import AsyncHTTPClient
import FakeVultr
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorAPI
import RotorAssembly
import RotorCore
import RotorEngine
import RotorHTTP
import RotorProviders

/// Rotor as `rotor serve` assembles it, served on a real socket with its engine running against
/// ``FakeVultr``, and one credential registered on a fake user's key: for tests of what callers
/// from outside (webhooks, GitHub) do over HTTP.
struct LiveRotor: Sendable {
    /// `http://127.0.0.1:PORT` of Rotor.
    let baseURL: String
    /// The store behind it.
    let store: any RotorStore
    /// The fake Vultr.
    let fake: FakeVultr
    /// The registered credential.
    let credential: Credential
    /// Its current key's plaintext (a test may report it leaked).
    let apiKey: String
    /// The responder the server runs, for requests that should bypass the socket (no peer address).
    let responder: RouterResponder

    /// One answer over the socket.
    struct Reply: Sendable {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: String
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(self.body.utf8), options: [.fragmentsAllowed]) }
        var object: [String: Any] { self.json as? [String: Any] ?? [:] }
        var code: String? { self.object["code"] as? String }
        /// `jobs[].id` of a hook answer.
        var jobIDs: [String] { (self.object["jobs"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } }
    }

    /// Runs `body` against a fresh instance; everything stops afterwards. `providerDefinitions`
    /// are loaded beside the built-in ones, as `ROTOR_PROVIDERS_DIR`'s files would be.
    static func run(
        githubKeys: GitHubKeySet? = nil, rateLimits: APIRateLimits = .unlimited, agentLiveness: TimeInterval = 120,
        providerDefinitions: [ProviderDefinition] = [],
        _ body: @escaping @Sendable (LiveRotor) async throws -> Void
    ) async throws {
        let configure: @Sendable (inout RotorAssembly.Settings) -> Void = { settings in
            settings.githubKeys = githubKeys
            settings.rateLimits = rateLimits
            settings.agentLiveness = agentLiveness
            settings.providerDefinitions = providerDefinitions
        }
        try await EngineFixture.with(name: "live", configure: configure) { fixture in
            let engine = fixture.engine
            let responder = fixture.assembly.responder
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await engine.run() }
                do {
                    try await HTTPServer.withRunningServer(
                        configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0), responder: responder, logger: Logger(label: "live")
                    ) { address in
                        try await body(
                            LiveRotor(
                                baseURL: "http://127.0.0.1:\(address.port ?? 0)", store: fixture.store, fake: fixture.fake,
                                credential: fixture.credential, apiKey: fixture.apiKey, responder: responder))
                    }
                } catch {
                    await engine.stop()
                    throw error
                }
                await engine.stop()
                try await group.waitForAll()
            }
        }
    }

    /// Sends a request over the socket: raw `body` bytes, `headers` as given, the admin token
    /// only when `authenticated`.
    func send(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, headers: [(String, String)] = [], authenticated: Bool = false) async throws -> Reply {
        var request = HTTPClientRequest(url: self.baseURL + path)
        request.method = method
        if authenticated { request.headers.add(name: "Authorization", value: "Bearer \(AuthTests.token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: APIHarness.socketDeadline)
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: response.status, headers: response.headers, body: String(buffer: bytes))
    }

    /// An authenticated JSON call.
    func api(_ method: HTTPMethod, _ path: String, json: String? = nil) async throws -> Reply {
        try await self.send(
            method, path, body: json.map { Array($0.utf8) },
            headers: json == nil ? [] : [("Content-Type", "application/json")], authenticated: true)
    }

    /// Waits (through `?wait=`) until the job is terminal; its JSON.
    func finished(_ jobID: String) async throws -> [String: Any] {
        try await self.api(.GET, "/v1/jobs/\(jobID)?wait=PT20S").object
    }

    /// Every job in the store.
    func allJobs() async throws -> [Job] {
        try await self.store.jobs(JobFilter(), PageRequest(limit: 200)).items
    }
}
