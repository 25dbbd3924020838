import ArgumentParser
import Foundation
import Logging
import RotorCore
import RotorPostgres
import RotorStore

/// `rotor audit`: operator tools for the audit log.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check the hash-chained audit log.",
        subcommands: [Verify.self]
    )

    /// `rotor audit verify`: walks the chain, names the first broken entry.
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the audit log's hash chain.",
            discussion: """
                Opens the database read-only (no keyring needed; the server may keep running):
                the PostgreSQL database of ROTOR_DATABASE_URL when it is set, else rotor.sqlite, and
                recomputes every entry's hash from its fields and the previous entry's hash.
                Exits 0 and prints the number of entries when the chain is intact; otherwise
                prints the seq of the first entry that does not match and exits 1.
                """
        )

        @Option(help: "The data directory (overrides ROTOR_DATA_DIR; default ./data).")
        var dataDir: String?

        func run() async throws {
            if let text = try SecretSetting.value("ROTOR_DATABASE_URL", command: "audit verify") {
                let url: PostgresURL
                do {
                    url = try PostgresURL(parsing: text)
                } catch {
                    // The error names the part that is wrong, never the password.
                    FileHandle.standardError.write(Data("rotor audit verify: ROTOR_DATABASE_URL: \(error)\n".utf8))
                    throw ExitCode(78)
                }
                try Self.report(try await PostgresStore.verifyAuditChain(url: url, logger: Logger(label: "rotor.audit", factory: { _ in SwiftLogNoOpLogHandler() })))
                return
            }
            let directory = self.dataDir ?? ProcessInfo.processInfo.environment["ROTOR_DATA_DIR"] ?? "./data"
            let path = DataDirectory.path(directory, "rotor.sqlite")
            guard FileManager.default.fileExists(atPath: path) else {
                FileHandle.standardError.write(Data("rotor audit verify: no database at \(path)\n".utf8))
                throw ExitCode(2)
            }
            try Self.report(try SQLiteStore.verifyAuditChain(databaseAt: path))
        }

        private static func report(_ verification: AuditVerification) throws {
            switch verification {
            case .intact(let count):
                print("audit log intact: \(count) entries")
            case .broken(let seq, let reason):
                print("audit log BROKEN at entry \(seq): \(reason)")
                throw ExitCode.failure
            }
        }
    }
}
