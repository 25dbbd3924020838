import ArgumentParser
import Foundation
import RotorCore
import RotorCrypto
import RotorSQLite

/// `rotor keyring generate`: a new keyring file with one KEK.
struct KeyringGenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a new keyring file (mode 0600) holding one new, active key-encryption key.",
        discussion: """
            Refuses to replace an existing file unless --force: secrets sealed under the keys in it \
            could never be opened again. With --import-master-key, the key in ROTOR_MASTER_KEY is \
            kept in the new keyring (id "master", not active), so a deployment can move from \
            ROTOR_MASTER_KEY to ROTOR_KEYRING_FILE and then rewrap.
            """
    )

    @OptionGroup var location: KeyringLocation

    @Option(help: "The new key's id (default kek-<yyyyMMdd>-<4 hex digits>).")
    var id: String?

    @Flag(help: "Replace an existing keyring file.")
    var force = false

    @Flag(help: "Keep the key in ROTOR_MASTER_KEY (as id \"master\") beside the new one.")
    var importMasterKey = false

    func run() async throws {
        try await self.reportingKeyringErrors {
            let path = self.location.keyringPath
            if FileManager.default.fileExists(atPath: path) && !self.force {
                throw KeyringCommandError(
                    command: "generate",
                    message: "\(path) already exists; use `rotor keyring add` to add a key to it, or --force to replace it (its keys are lost)",
                    exitCode: 73)
            }
            let id = try KeyringLocation.keyID(self.id, command: "generate")
            let keyring: Keyring
            if self.importMasterKey {
                guard let master = try SecretSetting.value("ROTOR_MASTER_KEY", command: "keyring generate") else {
                    throw KeyringCommandError(command: "generate", message: "--import-master-key: ROTOR_MASTER_KEY is not set", exitCode: 78)
                }
                do {
                    let fresh = Keyring.generate(id: id)
                    keyring = try Keyring(masterKeyBase64: master).adding(Keyring.generateKey(id: fresh.activeKeyID), makeActive: true)
                } catch {
                    throw KeyringCommandError(command: "generate", message: "ROTOR_MASTER_KEY: \(error)", exitCode: 78)
                }
            } else {
                keyring = Keyring.generate(id: id)
            }
            try self.location.write(keyring, command: "generate")
            sayKeyring("wrote keyring \(path) (mode 0600): active key-encryption key \(keyring.activeKeyID); keys: \(keyring.keyIDs.joined(separator: ", "))")
            sayKeyring("back it up apart from the data directory: without it no stored secret can be opened")
        }
    }
}

/// `rotor keyring add`: a new active KEK in an existing keyring file.
struct KeyringAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a new key-encryption key to the keyring file and make it active for new seals.",
        discussion: "The old keys stay, so existing secrets still open. Restart rotor serve, then run `rotor keyring rewrap`."
    )

    @OptionGroup var location: KeyringLocation

    @Option(help: "The new key's id (default kek-<yyyyMMdd>-<4 hex digits>).")
    var id: String?

    func run() async throws {
        try await self.reportingKeyringErrors {
            let keyring = try self.location.loadKeyring(command: "add")
            let id = try KeyringLocation.keyID(self.id, command: "add") ?? Keyring.generate().activeKeyID
            let updated: Keyring
            do {
                updated = try keyring.adding(Keyring.generateKey(id: id), makeActive: true)
            } catch {
                throw KeyringCommandError(command: "add", message: "\(error)", exitCode: 65)
            }
            try self.location.write(updated, command: "add")
            sayKeyring("added key-encryption key \(id) to \(self.location.keyringPath); it is now active (was \(keyring.activeKeyID))")
            sayKeyring("next: restart rotor serve with this keyring, then run `rotor keyring rewrap`")
        }
    }
}

/// `rotor keyring remove`: drops a KEK that no stored envelope uses any more.
struct KeyringRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a key-encryption key from the keyring file once no stored secret is sealed under it.",
        discussion: """
            Counts the envelopes under the key in the data directory's database and refuses while \
            any remains (run `rotor keyring rewrap` first). --force removes it anyway: the secrets \
            still under it can then never be opened. The active key cannot be removed.
            """
    )

    @OptionGroup var location: KeyringLocation

    @Argument(help: "The id of the key-encryption key to remove.")
    var kekID: String

    @Flag(help: "Remove the key even if stored secrets are still sealed under it, or the database cannot be checked.")
    var force = false

    func run() async throws {
        try await self.reportingKeyringErrors {
            let keyring = try self.location.loadKeyring(command: "remove")
            let updated: Keyring
            do {
                updated = try keyring.removing(id: self.kekID)
            } catch {
                throw KeyringCommandError(command: "remove", message: "\(error)", exitCode: 65)
            }
            if !self.force {
                let store = try await self.location.openStore(keyring: keyring, command: "remove")
                let inUse = try await store.envelopeCountsByKeyID()[self.kekID, default: 0]
                guard inUse == 0 else {
                    throw KeyringCommandError(
                        command: "remove",
                        message: "\(inUse) stored secret(s) are still sealed under \(self.kekID); run `rotor keyring rewrap` first (or --force to lose them)",
                        exitCode: 65)
                }
            }
            try self.location.write(updated, command: "remove")
            sayKeyring("removed key-encryption key \(self.kekID) from \(self.location.keyringPath); keys: \(updated.keyIDs.joined(separator: ", ")) (active \(updated.activeKeyID))")
            sayKeyring("next: restart rotor serve with this keyring")
        }
    }
}

/// `rotor keyring verify`: opens every stored secret with the keyring.
struct KeyringVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Open every stored secret with the keyring and report any that do not open."
    )

    @OptionGroup var location: KeyringLocation

    func run() async throws {
        try await self.reportingKeyringErrors {
            let keyring = try self.location.loadKeyring(command: "verify")
            let store = try await self.location.openStore(keyring: keyring, command: "verify")
            let result = try await store.verifyEnvelopes()
            let counts = try await store.envelopeCountsByKeyID()
            let byKey = counts.keys.sorted().map { "\($0.isEmpty ? "(unreadable header)" : $0): \(counts[$0]!)" }.joined(separator: ", ")
            sayKeyring("\(result.opened) stored secret(s) open with keyring \(keyring.keyIDs.joined(separator: ", ")) (by key: \(byKey.isEmpty ? "none" : byKey))")
            guard result.failures.isEmpty else {
                throw KeyringCommandError(
                    command: "verify",
                    message: "\(result.failures.count) stored secret(s) do not open:\n" + result.failures.prefix(20).map { "  - \($0)" }.joined(separator: "\n"),
                    exitCode: 65)
            }
        }
    }
}
