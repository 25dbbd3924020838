import ArgumentParser
import Foundation
import RotorCore
import RotorCrypto
import RotorSQLite

/// `rotor keyring rewrap`: moves every stored secret's data key to the active KEK.
struct KeyringRewrapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rewrap",
        abstract: "Re-wrap every stored secret under the keyring's active key-encryption key.",
        discussion: """
            Works offline, or online beside a running `rotor serve` on the same data directory: \
            envelopes are re-wrapped in small transactions, and one is written back only if it \
            is unchanged since it was read. Interrupting it loses nothing; running it again \
            finishes the job, touching only secrets not yet under the active key. Only the data \
            keys are re-encrypted; the secrets' ciphertexts stay as they are.

            Run it online only after restarting rotor serve with the keyring that holds the new \
            key: a server without it cannot open re-wrapped secrets.

            Exit status: 0 when every secret is under the active key; 65 if some secret cannot be \
            opened with this keyring; 75 if secrets under an old key remain, after --limit or \
            because a writer kept sealing under it (restart rotor serve with this keyring), \
            and running it again is the next step.
            """
    )

    @OptionGroup var location: KeyringLocation

    @Option(help: "Secrets per transaction (1–10000).")
    var batchSize = 100

    @Option(help: "Re-wrap at most this many secrets in this run, then exit 75; run again to continue.")
    var limit: Int?

    func validate() throws {
        guard (1...10_000).contains(self.batchSize) else {
            throw ValidationError("--batch-size must be from 1 to 10000")
        }
        if let limit, limit < 1 {
            throw ValidationError("--limit must be at least 1")
        }
    }

    func run() async throws {
        try await self.reportingKeyringErrors {
            let keyring = try self.location.loadKeyring(command: "rewrap")
            let store = try await self.location.openStore(keyring: keyring, command: "rewrap")
            let active = keyring.activeKeyID

            let missing = try await store.missingEnvelopeKeyIDs()
            if !missing.isEmpty {
                sayKeyring(
                    "warning: stored secrets are sealed under key(s) this keyring lacks: \(missing.map(Self.name).joined(separator: ", ")); they will be reported as failures")
            }
            let before = try await store.envelopeCountsByKeyID().filter { $0.key != active }
            guard before.values.contains(where: { $0 > 0 }) else {
                sayKeyring("nothing to rewrap: every stored secret is under the active key-encryption key \(active)")
                return
            }
            let oldKeys = before.keys.sorted()
            sayKeyring("rewrapping \(before.values.reduce(0, +)) stored secret(s) under \(oldKeys.map(Self.name).joined(separator: ", ")) to \(active), \(self.batchSize) per transaction")

            let result = try await EnvelopeRewrap.run(store: store, batchSize: self.batchSize, maxEnvelopes: self.limit) { progress in
                sayKeyring(Self.describe(progress, oldKeys: oldKeys))
            }
            sayKeyring(Self.describe(result, oldKeys: oldKeys))
            if result.changedConcurrently > 0 {
                sayKeyring("\(result.changedConcurrently) secret(s) changed while being re-wrapped and were left as written")
            }
            if !result.failures.isEmpty {
                throw KeyringCommandError(
                    command: "rewrap",
                    message: "\(result.failures.count) stored secret(s) could not be re-wrapped and keep their old key:\n"
                        + result.failures.prefix(20).map { "  - \($0)" }.joined(separator: "\n"),
                    exitCode: 65)
            }
            if let limit = self.limit, !result.isComplete, result.rewrapped + result.changedConcurrently >= limit {
                throw KeyringCommandError(
                    command: "rewrap",
                    message: "stopped after --limit \(limit); run `rotor keyring rewrap` again to continue",
                    exitCode: 75)
            }
            guard result.isComplete else {
                throw KeyringCommandError(
                    command: "rewrap",
                    message: "secrets are still being sealed under an old key; restart rotor serve with this keyring, then run rewrap again",
                    exitCode: 75)
            }
            let unused = keyring.keyIDs.filter { $0 != active }
            sayKeyring(
                "done: every stored secret is under \(active)"
                    + (unused.isEmpty ? "" : "; no secret uses \(unused.joined(separator: ", ")) any more (`rotor keyring remove <id>`)"))
        }
    }

    /// `rewrapped 120/500 envelopes; 380 left under kek-old`.
    static func describe(_ progress: EnvelopeRewrapProgress, oldKeys: [String]) -> String {
        let keys = Set(oldKeys).union(progress.remaining.keys).sorted()
        let left = keys.map { "\(progress.remaining[$0, default: 0]) left under \(Self.name($0))" }.joined(separator: ", ")
        return "rewrapped \(progress.rewrapped)/\(progress.total) envelopes; \(left)"
    }

    /// A KEK id for the operator; an envelope header without a valid id is named as such.
    static func name(_ keyID: String) -> String {
        keyID.isEmpty ? "(unreadable envelope header)" : keyID
    }
}
