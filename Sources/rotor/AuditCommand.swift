import ArgumentParser
import Foundation
import Logging
import RotorCore
import RotorCrypto
import RotorPostgres
import RotorSQLite
import RotorAssembly

/// `rotor audit`: operator tools for the audit log.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "List (over the API) and verify (on disk) the hash-chained audit log.",
        subcommands: [Verify.self, AuditListCommand.self]
    )

    /// `rotor audit verify`: walks the chain, names the first broken entry, and holds signed
    /// checkpoints against it.
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the audit log's hash chain, and that it still reaches its checkpoints.",
            discussion: """
                Opens the database read-only (the server may keep running): the PostgreSQL
                database of ROTOR_DATABASE_URL when it is set, else rotor.sqlite, and recomputes
                every entry's hash from its fields and the previous entry's hash. Every checkpoint
                the server stored must still match the log: its entry present, with its hash.
                With a keyring (--keyring-file, ROTOR_KEYRING_FILE, ROTOR_MASTER_KEY, or the data
                directory's keyring.json), the newest stored checkpoint's MAC is verified too.

                --checkpoint FILE (or - for standard input) takes a checkpoint kept elsewhere:
                GET /v1/audit's answer or its `checkpoint`, an audit.checkpoint event, or a JSON log
                line of the server's. Its MAC is verified with the keyring (required), then the log
                must reach its entry and have its hash there: that proves nothing at or before it
                was removed or altered, which the chain alone cannot show for its newest entries.

                Exits 0 and prints the number of entries when everything holds; 1 with the reason
                when it does not (a broken chain, a cut tail, a checkpoint that does not verify);
                2 when the database or the checkpoint cannot be read; 78 when the keyring cannot.
                """
        )

        @Option(help: "The data directory (overrides ROTOR_DATA_DIR; default ./data).")
        var dataDir: String?

        @Option(help: "A checkpoint kept elsewhere: a JSON file, or - for standard input.")
        var checkpoint: String?

        @Option(help: "The keyring JSON file (default: ROTOR_KEYRING_FILE, else ROTOR_MASTER_KEY, else <data dir>/keyring.json).")
        var keyringFile: String?

        func run() async throws {
            let directory = self.dataDir ?? ProcessInfo.processInfo.environment["ROTOR_DATA_DIR"] ?? "./data"
            let keyring = try self.keyring(dataDirectory: directory)
            var given: [AuditCheckpoint] = []
            if let source = self.checkpoint {
                let checkpoint = try Self.readCheckpoint(source)
                guard let keyring else {
                    Self.fail(
                        "--checkpoint needs the keyring that signed it: pass --keyring-file, or set ROTOR_KEYRING_FILE or ROTOR_MASTER_KEY",
                        exitCode: 78)
                }
                try Self.verifyMAC(checkpoint, keyring: keyring, what: "the checkpoint")
                given.append(checkpoint)
            }
            let logger = Logger(label: "rotor.audit", factory: { _ in SwiftLogNoOpLogHandler() })
            if let text = try SecretSetting.value("ROTOR_DATABASE_URL", command: "audit verify") {
                let url: PostgresURL
                do {
                    url = try PostgresURL(parsing: text)
                } catch {
                    // The error names the part that is wrong, never the password.
                    Self.fail("ROTOR_DATABASE_URL: \(error)", exitCode: 78)
                }
                let stored = try await PostgresStore.latestAuditCheckpoint(url: url, logger: logger)
                try Self.verifyStored(stored, keyring: keyring)
                try Self.report(try await PostgresStore.verifyAuditChain(url: url, checkpoints: given, logger: logger), given: given.first, stored: stored)
                return
            }
            let path = DataDirectory.path(directory, "rotor.sqlite")
            guard FileManager.default.fileExists(atPath: path) else {
                Self.fail("no database at \(path)", exitCode: 2)
            }
            let stored = try SQLiteStore.latestAuditCheckpoint(databaseAt: path)
            try Self.verifyStored(stored, keyring: keyring)
            try Self.report(try SQLiteStore.verifyAuditChain(databaseAt: path, checkpoints: given), given: given.first, stored: stored)
        }

        /// The keyring, if one is configured: --keyring-file, ROTOR_KEYRING_FILE, ROTOR_MASTER_KEY
        /// (or its _FILE), else the data directory's keyring.json when there is one (`--dev`).
        private func keyring(dataDirectory: String) throws -> Keyring? {
            let environment = ProcessInfo.processInfo.environment
            let file = self.keyringFile ?? environment["ROTOR_KEYRING_FILE"].flatMap { $0.isEmpty ? nil : $0 }
            do {
                if let file { return try Keyring.load(fromFile: file) }
                if let master = try SecretSetting.value("ROTOR_MASTER_KEY", command: "audit verify") {
                    return try Keyring(masterKeyBase64: master)
                }
                let dev = DataDirectory.path(dataDirectory, "keyring.json")
                return FileManager.default.fileExists(atPath: dev) ? try Keyring.load(fromFile: dev) : nil
            } catch let error as CryptoError {
                Self.fail("the keyring: \(error)", exitCode: 78)
            }
        }

        /// Reads a checkpoint in any of the forms Rotor publishes it in.
        static func readCheckpoint(_ source: String) throws -> AuditCheckpoint {
            let data: Data
            if source == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let contents = FileManager.default.contents(atPath: source) else {
                    Self.fail("cannot read the checkpoint file \(source)", exitCode: 2)
                }
                data = contents
            }
            do {
                return try Self.checkpoint(fromJSON: data)
            } catch {
                Self.fail("\(source == "-" ? "standard input" : source) holds no checkpoint: \(error)", exitCode: 2)
            }
        }

        /// The checkpoint in `data`: the object itself, or under `checkpoint` (`GET /v1/audit`),
        /// `data` (an `audit.checkpoint` event) or `metadata.checkpoint` (a JSON log line, whose
        /// values are all strings).
        static func checkpoint(fromJSON data: Data) throws -> AuditCheckpoint {
            guard let top = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw CheckpointFormatError(description: "not a JSON object")
            }
            let candidates: [Any?] = [top, top["checkpoint"], top["data"], (top["metadata"] as? [String: Any])?["checkpoint"]]
            guard var object = candidates.compactMap({ $0 as? [String: Any] }).first(where: { $0["mac"] != nil }) else {
                throw CheckpointFormatError(description: "no object with seq, hash, signed_at, key_id and mac")
            }
            if let text = object["seq"] as? String, let number = Int(text) { object["seq"] = number }
            return try JSONDecoder().decode(AuditCheckpoint.self, from: JSONSerialization.data(withJSONObject: object))
        }

        struct CheckpointFormatError: Error, CustomStringConvertible {
            let description: String
        }

        /// Exits 1 unless `checkpoint`'s MAC is the keyring's for its fields. A key the keyring
        /// no longer holds fails only when `unknownKeyFails`, else it is noted.
        static func verifyMAC(_ checkpoint: AuditCheckpoint, keyring: Keyring, what: String, unknownKeyFails: Bool = true) throws {
            let expected: [UInt8]
            do {
                expected = try keyring.derivedAuthenticationCode(
                    keyID: checkpoint.keyID, purpose: AuditCheckpoint.macPurpose, message: checkpoint.signedBytes)
            } catch {
                guard unknownKeyFails else {
                    print("note: \(what) (entry \(checkpoint.seq)) is under key '\(checkpoint.keyID)', which the keyring no longer holds: its MAC was not verified")
                    return
                }
                Self.fail(
                    "\(what) (entry \(checkpoint.seq)) names key '\(checkpoint.keyID)', which the keyring does not hold (keys: \(keyring.keyIDs.joined(separator: ", "))): it cannot be verified",
                    exitCode: 1)
            }
            guard constantTimeEquals(Array(expected.hexString.utf8), Array(checkpoint.mac.utf8)) else {
                print("audit checkpoint REJECTED: \(what)'s MAC does not match its seq, hash, signed_at and key_id: it was not signed by Rotor, or was changed since")
                throw ExitCode.failure
            }
        }

        /// Verifies the newest stored checkpoint's MAC when there is a keyring to verify it with.
        private static func verifyStored(_ stored: AuditCheckpoint?, keyring: Keyring?) throws {
            guard let stored, let keyring else { return }
            // After a keyring rotation that removed its key, the next checkpoint is signed under
            // the new one; until then, an older one cannot be verified, which proves nothing wrong.
            try Self.verifyMAC(stored, keyring: keyring, what: "the newest stored checkpoint", unknownKeyFails: false)
        }

        private static func report(_ verification: AuditVerification, given: AuditCheckpoint?, stored: AuditCheckpoint?) throws {
            switch verification {
            case .intact(let count):
                print("audit log intact: \(count) entries")
                if let given {
                    print("checkpoint verified: entry \(given.seq), signed at \(given.signedAt) under key \(given.keyID); nothing at or before it was removed or altered")
                }
                if let stored {
                    print("newest stored checkpoint: entry \(stored.seq), signed at \(stored.signedAt)")
                }
            case .broken(let seq, let reason):
                print("audit log BROKEN at entry \(seq): \(reason)")
                throw ExitCode.failure
            }
        }

        private static func fail(_ message: String, exitCode: Int32) -> Never {
            FileHandle.standardError.write(Data("rotor audit verify: \(message)\n".utf8))
            Foundation.exit(exitCode)
        }
    }
}
