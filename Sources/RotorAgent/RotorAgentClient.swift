import AsyncHTTPClient
package import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL

/// A key as the key route serves it. Its description leaves the secret out.
package struct AgentKey: Sendable, Equatable, Decodable, CustomStringConvertible {
    package var secret: String
    package var version: Int
    /// `current`, or `pending` while a rotation waits for the agents in `verify`.
    package var status: String
    package var fingerprint: String

    package var description: String { "version \(self.version) (\(self.status), \(self.fingerprint))" }
}

/// Why Rotor did not answer with what was asked.
package enum AgentClientError: Error, Sendable, CustomStringConvertible {
    /// No answer: connection refused, TLS, timeout.
    case transport(String)
    /// An answer with an error status; `code` is the problem+json `code` when there is one.
    case http(status: Int, code: String?, detail: String?)

    /// 401, 403 or 404: the token, its scope or binding, or the credential id is wrong.
    package var isRefusal: Bool {
        if case .http(let status, _, _) = self { return [401, 403, 404].contains(status) }
        return false
    }

    package var description: String {
        switch self {
        case .transport(let reason): "Rotor unreachable: \(reason)"
        case .http(let status, let code, let detail): "Rotor answered \(status)\(code.map { " \($0)" } ?? "")\(detail.map { ": \($0)" } ?? "")"
        }
    }
}

/// Talks to Rotor's agent routes with the agent token over AsyncHTTPClient (TLS with the system's
/// trust roots, plus `--ca-file` if given; redirects refused, so the token goes nowhere else).
package final class RotorAgentClient: Sendable {
    private let http: HTTPClient
    private let base: String
    private let authorization: String

    package init(url: URL, token: AgentToken, caFile: String?) throws {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        // Fail at once when Rotor cannot be reached: the agent's own backoff (with jitter, and a
        // log line per failure) decides when to try again, not the pool's until the deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        if let caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caFile))]
            configuration.tlsConfiguration = tls
        }
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        var base = url.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        self.base = base
        self.authorization = "Bearer \(token.value)"
    }

    package func shutdown() async {
        try? await self.http.shutdown()
    }

    /// `GET …/agent/key`. With `instance` (and its group), the fetch counts as hearing from the
    /// instance: it is live from then on. With `known`, asks Rotor to hold the request for up to
    /// `wait` until the served (version, status) differs from it; nil when it still does not (`204`).
    package func key(
        credential: String, instance: (name: String, group: String)?, known: (version: Int, status: String)?, wait: Duration
    ) async throws(AgentClientError) -> AgentKey? {
        var query: [String] = []
        if let instance { query += ["instance=\(Self.encode(instance.name))", "group=\(Self.encode(instance.group))"] }
        if let known {
            query += ["known_version=\(known.version)", "known_status=\(Self.encode(known.status))", "wait=\(AgentDuration.iso(wait))"]
        }
        let path = "/v1/credentials/\(Self.encode(credential))/agent/key" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        let request = self.request(path, method: .GET)
        guard let body = try await self.execute(request, timeout: wait + .seconds(30)) else { return nil }
        do {
            return try JSONDecoder().decode(AgentKey.self, from: body)
        } catch {
            throw .transport("the key route answered something that is not a key")
        }
    }

    /// What Rotor made of an acknowledgement.
    package enum Acknowledged: Sendable, Equatable {
        case recorded
        /// 409 `acknowledgement_replayed`: this instance already acknowledged so.
        case replayed
    }

    /// `POST …/agent/acks`.
    package func acknowledge(
        credential: String, instance: String, group: String, version: Int, applied: Bool, message: String?
    ) async throws(AgentClientError) -> Acknowledged {
        var request = self.request("/v1/credentials/\(Self.encode(credential))/agent/acks", method: .POST)
        var body: [String: Any] = ["instance": instance, "group": group, "version": version, "outcome": applied ? "applied" : "failed"]
        if let message { body["message"] = message }
        let data = (try? JSONSerialization.data(withJSONObject: body)) ?? Data()
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: data))
        do {
            _ = try await self.execute(request, timeout: .seconds(30))
            return .recorded
        } catch .http(409, "acknowledgement_replayed"?, _) {
            return .replayed
        }
    }

    private func request(_ path: String, method: HTTPMethod) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: self.base + path)
        request.method = method
        request.headers.add(name: "Authorization", value: self.authorization)
        request.headers.add(name: "Accept", value: "application/json")
        return request
    }

    /// The answer's body; nil for `204 No Content`.
    private func execute(_ request: HTTPClientRequest, timeout: Duration) async throws(AgentClientError) -> Data? {
        let status: Int
        let bytes: ByteBuffer
        do {
            let response = try await self.http.execute(request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000))
            status = Int(response.status.code)
            bytes = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw .transport("\(error)")
        }
        let data = Data(buffer: bytes)
        if status == 204 { return nil }
        guard (200..<300).contains(status) else {
            let problem = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            throw .http(status: status, code: problem?["code"] as? String, detail: (problem?["detail"] as? String).map { String($0.prefix(300)) })
        }
        return data
    }

    private static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~:"))) ?? text
    }
}
