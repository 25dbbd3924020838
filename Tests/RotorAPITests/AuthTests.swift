import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorAPI
import RotorHTTP
import Testing

@Suite struct AuthTests {
    static let token = "rtr_test_admin_token_0123456789abcdef"

    static func responder() -> RouterResponder {
        RotorApplication.buildResponder(configuration: APIConfiguration(authenticator: AdminTokenAuthenticator(adminToken: Self.token)))
    }

    private func whoami(_ authorization: [String]) async throws -> Response {
        var headers = HTTPHeaders()
        for value in authorization { headers.add(name: "Authorization", value: value) }
        return try await Self.responder().respond(to: Request(method: .GET, uri: "/v1/whoami", headers: headers, logger: Logger(label: "t")))
    }

    private func problem(_ response: Response) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any])
    }

    @Test("the right token reaches the route and names its principal")
    func validToken() async throws {
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let response = try await self.whoami(["\(scheme) \(Self.token)"])
            #expect(response.status == .ok)
            #expect(response.headers["Cache-Control"] == ["no-store"])
            let principal = try self.problem(response)
            #expect(principal["id"] as? String == "admin")
            #expect(principal["scopes"] as? [String] == ["admin"])
        }
    }

    @Test("no Authorization header is 401 with a Bearer challenge")
    func missing() async throws {
        let response = try await self.whoami([])
        #expect(response.status == .unauthorized)
        #expect(response.headers["WWW-Authenticate"] == [#"Bearer realm="rotor""#])
        #expect(response.headers["Content-Type"] == ["application/problem+json"])
        let body = try self.problem(response)
        #expect(body["code"] as? String == "unauthorized")
        #expect((body["detail"] as? String)?.contains("Authorization: Bearer") == true)
    }

    @Test("a malformed Authorization header is 401 invalid_token", arguments: [
        ["Basic dXNlcjpwYXNz"],
        ["Bearer"],
        ["Bearer "],
        ["Bearer a b"],
        ["Bearer tok\u{7F}en"],
        ["Bearer ==="],
        ["Bearer ab=c"],
        ["Token \(AuthTests.token)"],
        ["Bearer \(AuthTests.token)", "Bearer \(AuthTests.token)"],
    ])
    func malformed(values: [String]) async throws {
        let response = try await self.whoami(values)
        #expect(response.status == .unauthorized)
        #expect(response.headers["WWW-Authenticate"] == [#"Bearer realm="rotor", error="invalid_token""#])
        let body = try self.problem(response)
        #expect(body["code"] as? String == "unauthorized")
        #expect((body["detail"] as? String)?.contains("must have the form") == true)
    }

    @Test("token68 is token characters then only padding (RFC 6750 §2.1)", arguments: [
        ("abc", true), ("abc==", true), ("a-._~+/Z9", true), ("A=", true),
        ("", false), ("==", false), ("a=b", false), ("a b", false), ("ab=c=", false), ("é", false), ("a:b", false),
    ])
    func token68(text: String, valid: Bool) {
        #expect(BearerAuthMiddleware.isToken68(Substring(text)) == valid)
    }

    @Test("a wrong token is 401 invalid_token, whatever its length", arguments: [
        "wrong", String(AuthTests.token.dropLast()), AuthTests.token + "x", AuthTests.token.uppercased(),
    ])
    func wrongToken(token: String) async throws {
        let response = try await self.whoami(["Bearer \(token)"])
        #expect(response.status == .unauthorized)
        #expect(response.headers["WWW-Authenticate"] == [#"Bearer realm="rotor", error="invalid_token""#])
        let body = try self.problem(response)
        #expect(body["detail"] as? String == "The bearer token is not valid.")
        #expect(!String(buffer: response.body).contains(token))
    }

    @Test("health, readiness and the spec need no token; unknown /v1 paths are 404")
    func publicRoutes() async throws {
        let responder = Self.responder()
        for path in ["/healthz", "/readyz", "/openapi.yaml"] {
            let response = try await responder.respond(to: Request(method: .GET, uri: path, logger: Logger(label: "t")))
            #expect(response.status == .ok, "\(path)")
        }
        let unknown = try await responder.respond(to: Request(method: .GET, uri: "/v1/nothing-here", logger: Logger(label: "t")))
        #expect(unknown.status == .notFound)
    }

    @Test("over a real socket: 401 without the token, 200 with it")
    func live() async throws {
        try await HTTPServer.withRunningServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0),
            responder: Self.responder(),
            logger: Logger(label: "t")
        ) { address in
            let url = "http://127.0.0.1:\(address.port ?? 0)/v1/whoami"
            let anonymous = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: APIHarness.socketDeadline)
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers["WWW-Authenticate"].first?.hasPrefix("Bearer") == true)

            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Authorization", value: "Bearer \(Self.token)")
            let authorized = try await HTTPClient.shared.execute(request, timeout: APIHarness.socketDeadline)
            #expect(authorized.status == .ok)
            #expect(String(buffer: try await authorized.body.collect(upTo: 4096)).contains(#""id":"admin""#))
        }
    }
}
