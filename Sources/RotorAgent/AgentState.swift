package import Foundation

/// What the agent last put in place for each credential, kept in `--state-file` so that a restart
/// neither rewrites nor reloads a key that is already there: `{credential_id: {version, status,
/// fingerprint, applied_at, outcome}}`. Holds no key.
package struct AgentState: Sendable, Equatable {
    package struct Entry: Codable, Sendable, Equatable {
        package var version: Int
        /// `current` or `pending`, as served.
        package var status: String
        package var fingerprint: String
        package var appliedAt: Date
        /// `applied` or `failed`: what the check said.
        package var outcome: String?

        package init(version: Int, status: String, fingerprint: String, appliedAt: Date, outcome: String?) {
            self.version = version
            self.status = status
            self.fingerprint = fingerprint
            self.appliedAt = appliedAt
            self.outcome = outcome
        }

        enum CodingKeys: String, CodingKey {
            case version, status, fingerprint, outcome
            case appliedAt = "applied_at"
        }
    }

    package var entries: [String: Entry] = [:]

    package init(entries: [String: Entry] = [:]) { self.entries = entries }

    /// Why a state file was not read.
    package struct ReadError: Error, Sendable, CustomStringConvertible {
        package var description: String
    }

    /// The state in `path`; empty when there is no such file.
    package static func load(_ path: String) throws(ReadError) -> AgentState {
        guard FileManager.default.fileExists(atPath: path) else { return AgentState() }
        guard let data = FileManager.default.contents(atPath: path) else { throw ReadError(description: "cannot read \(path)") }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return AgentState(entries: try decoder.decode([String: Entry].self, from: data))
        } catch {
            throw ReadError(description: "\(path) is not an agent state file: \(error)")
        }
    }

    /// Writes the state to `path` atomically, mode 0600.
    package func save(_ path: String) throws(AtomicFile.WriteError) {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let data = (try? encoder.encode(self.entries)) ?? Data("{}".utf8)
        try AtomicFile.write(data + Data("\n".utf8), to: path, mode: 0o600)
    }
}
