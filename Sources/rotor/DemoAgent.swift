import Foundation
import Logging
import RotorAgent
import ServiceLifecycle
import Synchronization

/// The demo's workload: a `rotor agent` run in process through the RotorAgent library, as the
/// `rotor agent` command runs it. It keeps the credential's key in a file and checks each new key
/// with a real `/bin/sh -c` command before acknowledging it; its log is kept for the timeline.
struct DemoAgent {
    static let instance = "demo-1"
    static let group = "demo"

    let keyFile: String
    /// What the check command proves, for the output.
    let checkDescription: String
    /// Whether the check authenticates at the fake Vultr (curl is here), or only finds a key in the file.
    let checkAuthenticates: Bool
    let journal = DemoAgentJournal()
    private let configuration: AgentConfiguration

    /// Configures the agent as `rotor agent --url … --instance demo-1 --group demo --credential …
    /// --file … --check …` would be, with the token given as `ROTOR_AGENT_TOKEN` is.
    init(rotorURL: String, vultrURL: String, token: String, credentialID: String, directory: String) throws(AgentConfigurationError) {
        self.keyFile = directory + "/vultr-key"
        let check: String
        if let curl = Self.curl() {
            // The header comes from standard input, so the key shows in no process's arguments.
            check = #"printf 'Authorization: Bearer %s\n' "$(cat "$ROTOR_KEY_FILE")" | \#(curl) -sf --noproxy '*' --max-time 5 -o /dev/null -H @- \#(vultrURL)/v2/account"#
            self.checkDescription = "curl authenticates at the fake Vultr with the key from the file"
            self.checkAuthenticates = true
        } else {
            check = #"test -s "$ROTOR_KEY_FILE""#
            self.checkDescription = "the file holds a key (no curl here; the demo checks the key at the fake Vultr itself)"
            self.checkAuthenticates = false
        }
        var flags = AgentFlags()
        flags.url = rotorURL
        flags.instance = Self.instance
        flags.group = Self.group
        flags.credential = credentialID
        flags.file = self.keyFile
        flags.mode = "0600"
        flags.check = check
        flags.commandTimeout = "10s"
        flags.pollInterval = "1s"
        flags.wait = "PT30S"
        // Only the token: the demo's own environment configures nothing of its agent.
        self.configuration = try AgentConfiguration.resolve(flags: flags, environment: ["ROTOR_AGENT_TOKEN": token])
    }

    /// Runs `body` while the agent runs; then shuts the agent down gracefully (its held fetch
    /// ends) and closes its HTTP client, whether `body` returned or threw.
    func running(_ body: () async throws -> Bool) async throws -> Bool {
        let journal = self.journal
        let runner = try AgentRunner(configuration: self.configuration, logger: Logger(label: "rotor-demo.agent") { _ in DemoAgentJournal.Handler(journal: journal) })
        let services = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: [.init(service: runner)], logger: Logger(label: "rotor-demo.agent") { _ in SwiftLogNoOpLogHandler() }))
        let outcome: Result<Bool, any Error>
        do {
            outcome = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await services.run() }
                let outcome: Result<Bool, any Error>
                do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
                await services.triggerGracefulShutdown()
                try await group.waitForAll()
                return outcome
            }
        } catch {
            await runner.shutdown()
            throw error
        }
        await runner.shutdown()
        return try outcome.get()
    }

    /// The agent's log as the demo's lines, from `since` on, each with its time after `origin`.
    func lines(since start: Int = 0, after origin: ContinuousClock.Instant) -> (lines: [String], next: Int) {
        let entries = self.journal.entries
        let lines = entries.dropFirst(start).compactMap { entry -> String? in
            guard let text = self.describe(entry) else { return nil }
            let offset = String(milliseconds(entry.at - origin)).leftPadded(to: 5)
            return "+\(offset) ms  \(text)"
        }
        return (lines, entries.count)
    }

    private func describe(_ entry: DemoAgentJournal.Entry) -> String? {
        let version = entry.metadata["version"] ?? "?"
        let status = entry.metadata["status"] ?? "?"
        switch entry.message {
        case "new key served":
            // A change of status only is told by the applier's line below.
            return entry.metadata["previous_version"] == version ? nil : "Rotor serves version \(version) (\(status)) to the agent"
        case "key written": return "wrote version \(version) (\(status)) to the key file"
        case "key already in place": return "the key file already holds version \(version)"
        case "check passed":
            return self.checkAuthenticates
                ? "check passed: curl authenticated at the fake Vultr with version \(version) from the file" : "check passed: the file holds version \(version)"
        case "acknowledged", "already acknowledged": return "acknowledged version \(version) to Rotor: \(entry.metadata["outcome"] ?? "?")"
        case "key status changed": return "version \(version) is now \(status)"
        case "agent starting", "agent stopped": return nil
        case let message where message.hasPrefix("rotation finished"):
            return "version \(version) is now \(status): the rotation finished, the old key is revoked"
        default:
            guard entry.level >= .warning else { return nil }
            return "\(entry.level): \(entry.message)\(entry.metadata["reason"].map { " (\($0))" } ?? "")"
        }
    }

    /// curl on the `PATH`, if any.
    private static func curl() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/curl" }.first { FileManager.default.isExecutableFile(atPath: $0) && !$0.contains(" ") }
    }
}

/// What the demo's agent logged, in order, with when.
final class DemoAgentJournal: Sendable {
    struct Entry: Sendable {
        var at: ContinuousClock.Instant
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let storage = Mutex<[Entry]>([])

    var entries: [Entry] { self.storage.withLock { $0 } }

    /// Whether an entry satisfying `condition` arrives within `limit`.
    func waitFor(within limit: Duration, _ condition: (Entry) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if self.entries.contains(where: condition) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return self.entries.contains(where: condition)
    }

    /// Keeps every log event of the agent (never a key: the agent logs none).
    struct Handler: LogHandler {
        let journal: DemoAgentJournal
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel: Logger.Level = .info

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
            let entry = Entry(
                at: .now, level: event.level, message: event.message.description, metadata: merged.mapValues { "\($0)" })
            self.journal.storage.withLock { $0.append(entry) }
        }
    }
}

/// Whole milliseconds of `duration`.
func milliseconds(_ duration: Duration) -> Int64 {
    duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
}

extension String {
    func leftPadded(to length: Int) -> String {
        self.count >= length ? self : String(repeating: " ", count: length - self.count) + self
    }
}
