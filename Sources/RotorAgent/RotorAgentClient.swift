package import Foundation
import RotorClient

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

/// Talks to Rotor's agent routes with the agent token, through the same ``RotorClient`` as the
/// operator commands (TLS with the system's trust roots, plus `--ca-file` if given; redirects
/// refused, so the token goes nowhere else).
package final class RotorAgentClient: Sendable {
    private let client: RotorClient

    package init(url: URL, token: AgentToken, caFile: String?) throws {
        // Connecting fails at once when Rotor cannot be reached (RotorClient does not retry it):
        // the agent's own backoff (with jitter, and a log line per failure) decides when to try
        // again, not the pool's until the deadline.
        self.client = try RotorClient(
            baseURL: url.absoluteString, token: token.value, timeout: .seconds(30), connectTimeout: .seconds(10), caFile: caFile)
    }

    package func shutdown() async {
        await self.client.shutdown()
    }

    /// `GET …/agent/key`. With `instance` (and its group), the fetch counts as hearing from the
    /// instance: it is live from then on. With `known`, asks Rotor to hold the request for up to
    /// `wait` until the served (version, status) differs from it; nil when it still does not (`204`).
    package func key(
        credential: String, instance: (name: String, group: String)?, known: (version: Int, status: String)?, wait: Duration
    ) async throws(AgentClientError) -> AgentKey? {
        var query: [(String, String)] = []
        if let instance { query += [("instance", instance.name), ("group", instance.group)] }
        if let known {
            query += [("known_version", "\(known.version)"), ("known_status", known.status), ("wait", AgentDuration.iso(wait))]
        }
        let body = try await self.send(.getAgentKey, credential, query: query, waiting: wait)
        guard !body.isEmpty else { return nil }
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
        var body: [String: Any] = ["instance": instance, "group": group, "version": version, "outcome": applied ? "applied" : "failed"]
        if let message { body["message"] = message }
        do {
            _ = try await self.send(.acknowledgeAgentKey, credential, body: (try? JSONSerialization.data(withJSONObject: body)) ?? Data())
            return .recorded
        } catch .http(409, "acknowledgement_replayed"?, _) {
            return .replayed
        }
    }

    /// The answer's body, empty for `204 No Content`.
    private func send(
        _ endpoint: Endpoint, _ credential: String, query: [(String, String)] = [], body: Data? = nil, waiting: Duration = .zero
    ) async throws(AgentClientError) -> Data {
        do {
            return try await self.client.send(endpoint, id: credential, query: query, body: body, waiting: waiting)
        } catch {
            throw AgentClientError(error)
        }
    }
}

extension AgentClientError {
    init(_ error: RotorClientError) {
        switch error {
        case .unreachable(let reason), .unexpected(let reason): self = .transport(reason)
        case .timedOut(let limit): self = .transport("no answer within \(limit.components.seconds) s")
        case .refused(let status, let problem): self = .http(status: status, code: problem.code, detail: problem.detail.map { String($0.prefix(300)) })
        }
    }
}
