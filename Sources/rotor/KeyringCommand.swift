import ArgumentParser
import Foundation
import Logging
import RotorCore
import RotorCrypto
import RotorPostgres
import RotorSQLite
import RotorAssembly

/// `rotor keyring`: create and rotate the key-encryption keys (KEKs) that seal secrets at rest
/// (DESIGN.md §3).
///
/// The order of a rotation: `add` a new KEK (it becomes active for new seals), restart
/// `rotor serve` with the new file, `rewrap` (online or offline), then `remove` the old KEK
/// and restart again.
struct KeyringCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keyring",
        abstract: "Generate and rotate the keyring that encrypts Rotor's secrets at rest.",
        discussion: """
            To rotate the key-encryption key (KEK):
              1. rotor keyring add           new KEK, active for new seals
              2. restart rotor serve         it seals under the new KEK
              3. rotor keyring rewrap        re-wrap every stored secret
                                             (online or offline; resumable)
              4. rotor keyring remove <old>  once no secret uses it
              5. restart rotor serve         with the smaller keyring
            The keyring file is --keyring-file, else ROTOR_KEYRING_FILE, else \
            <data dir>/keyring.json.
            """,
        subcommands: [
            KeyringGenerateCommand.self, KeyringAddCommand.self, KeyringRewrapCommand.self, KeyringRemoveCommand.self,
            KeyringVerifyCommand.self,
        ]
    )
}

/// Where the keyring file and the data directory are, shared by the `rotor keyring` subcommands.
struct KeyringLocation: ParsableArguments {
    @Option(help: "The keyring JSON file (default: ROTOR_KEYRING_FILE, else <data dir>/keyring.json).")
    var keyringFile: String?

    @Option(help: "The data directory holding rotor.sqlite (default: ROTOR_DATA_DIR, else ./data); with ROTOR_DATABASE_URL set, that PostgreSQL database is used instead.")
    var dataDir: String?

    private static func environment(_ name: String) -> String? {
        // A secret setting's `_FILE` form too; a bad one reads as unset here, and the command
        // that needs it says what is missing.
        (try? SecretSetting.value(name, in: ProcessInfo.processInfo.environment)) ?? nil
    }

    var dataDirectory: String {
        self.dataDir ?? Self.environment("ROTOR_DATA_DIR") ?? "./data"
    }

    var keyringPath: String {
        self.keyringFile ?? Self.environment("ROTOR_KEYRING_FILE") ?? DataDirectory.path(self.dataDirectory, "keyring.json")
    }

    var databasePath: String { DataDirectory.path(self.dataDirectory, "rotor.sqlite") }

    /// Loads the keyring file, or exits 78 saying why not.
    func loadKeyring(command: String) throws -> Keyring {
        let path = self.keyringPath
        guard FileManager.default.fileExists(atPath: path) else {
            var message = "no keyring file at \(path); pass --keyring-file or set ROTOR_KEYRING_FILE"
            if Self.environment("ROTOR_MASTER_KEY") != nil {
                message += " (ROTOR_MASTER_KEY is set: `rotor keyring generate --import-master-key` makes a keyring file that keeps it)"
            }
            throw KeyringCommandError(command: command, message: message, exitCode: 78)
        }
        do {
            return try Keyring.load(fromFile: path)
        } catch {
            throw KeyringCommandError(command: command, message: "\(error)", exitCode: 78)
        }
    }

    /// Opens the store: PostgreSQL when `ROTOR_DATABASE_URL` is set (as `rotor serve` does),
    /// else the data directory's database, which must exist: a keyring command never creates one.
    func openStore(keyring: Keyring, command: String) async throws -> any EnvelopeKeyStore {
        if let text = Self.environment("ROTOR_DATABASE_URL") {
            let url: PostgresURL
            do {
                url = try PostgresURL(parsing: text)
            } catch {
                // The error names the part that is wrong, never the password.
                throw KeyringCommandError(command: command, message: "ROTOR_DATABASE_URL: \(error)", exitCode: 78)
            }
            do {
                return try await PostgresStore.connect(
                    url: url, keyring: keyring, maximumConnections: 2, logger: Logger(label: "rotor.keyring", factory: { _ in SwiftLogNoOpLogHandler() }))
            } catch {
                throw KeyringCommandError(command: command, message: "\(error)", exitCode: 74)
            }
        }
        let path = self.databasePath
        guard FileManager.default.fileExists(atPath: path) else {
            throw KeyringCommandError(
                command: command, message: "no database at \(path); pass --data-dir or set ROTOR_DATA_DIR", exitCode: 78)
        }
        do {
            return try SQLiteStore(path: path, keyring: keyring)
        } catch {
            throw KeyringCommandError(command: command, message: "cannot open the database \(path): \(error)", exitCode: 74)
        }
    }

    /// Writes `keyring` to the keyring file (mode 0600, atomically).
    func write(_ keyring: Keyring, command: String) throws {
        do {
            try keyring.write(toFile: self.keyringPath)
        } catch {
            throw KeyringCommandError(command: command, message: "\(error)", exitCode: 73)
        }
    }

    /// A key id from the command line, checked, or a generated one.
    static func keyID(_ id: String?, command: String) throws -> String? {
        guard let id else { return nil }
        guard Keyring.isValidKeyID(id) else {
            throw KeyringCommandError(
                command: command, message: "--id '\(id)' is invalid: ids are 1–64 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
                exitCode: 64)
        }
        return id
    }
}

/// A `rotor keyring` refusal: printed as `rotor keyring <command>: <message>`, exiting with a
/// sysexits code (64 usage, 65 data, 73 cannot create, 74 I/O, 78 configuration, 1 otherwise).
struct KeyringCommandError: Error, CustomStringConvertible {
    var command: String
    var message: String
    var exitCode: Int32

    var description: String { "rotor keyring \(command): \(message)" }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning a ``KeyringCommandError`` into its message on stderr and its exit code.
    func reportingKeyringErrors(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as KeyringCommandError {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(error.exitCode)
        }
    }
}

/// A line for the operator on stdout, unbuffered so progress shows at once in a pipe.
func sayKeyring(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
