import ArgumentParser
import Foundation
import RotorClient

/// `rotor credentials`: the credentials Rotor rotates.
struct CredentialsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credentials",
        abstract: "List, show, add, update and delete credentials.",
        subcommands: [List.self, Show.self, Add.self, Update.self, Delete.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the credentials: state, key age, next rotation.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.run { client, out in
                let listing = try await client.all(CredentialSummary.self, .listCredentials)
                out.show(listing.json) {
                    out.table(
                        ["NAME", "ID", "PROVIDER", "STATE", "VERSION", "KEY AGE", "NEXT ROTATION"],
                        listing.items.map {
                            [$0.name ?? "", $0.id, $0.provider, $0.state, "\($0.version)", Age.since($0.current?.createdAt), Age.until($0.nextRotationAt)]
                        },
                        paint: [3: Printer.style(ofState:)])
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one credential.")
        @Argument(help: "The credential's name or id.") var credential: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.run { client, out in
                let id = try await client.credentialID(self.credential)
                let (credential, json) = try await client.fetch(CredentialSummary.self, .getCredential, id: id)
                out.show(json) { Self.describe(credential, out) }
            }
        }

        static func describe(_ credential: CredentialSummary, _ out: Printer) -> [String] {
            let schedule = [credential.schedule?.every.map { "every \($0)" }, credential.schedule?.beforeExpiry.map { "\($0) before expiry" }].compactMap { $0 }
            let manager: String? = credential.managerCredentialID.map { "\($0), subject \(credential.subject ?? "?")" }
            let key: String? = credential.current.map { "\($0.providerKeyID ?? "?") (\($0.fingerprint ?? "?")), \(Age.since($0.createdAt)) old" }
            let expires: String? = credential.current?.expiresAt.map { Age.until($0) }
            let lastRotated: String = credential.lastRotatedAt.map { "\(Age.since($0)) ago" } ?? "never"
            let targets: String = (credential.targets ?? []).map { $0.url ?? "agents \($0.group ?? "?")" }.joined(separator: ", ")
            let labels: String = (credential.labels ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
            let fields: [(String, String?)] = [
                ("name", credential.name), ("id", credential.id), ("provider", credential.provider), ("managed by", manager),
                ("state", out.paint(credential.state, Printer.style(ofState: credential.state))), ("version", "\(credential.version)"),
                ("key", key), ("key expires", expires), ("new keys expire after", credential.keyExpiry),
                ("schedule", schedule.isEmpty ? "none" : schedule.joined(separator: ", ")),
                ("next rotation", Age.until(credential.nextRotationAt)), ("last rotated", lastRotated), ("targets", targets), ("labels", labels),
            ]
            return out.fields(fields)
        }
    }

    /// What `add` and `update` both set.
    struct Settings: ParsableArguments {
        @Option(name: .customLong("target"), help: ArgumentHelp("A webhook URL to send each new key to (repeat for several; on update, replaces them all).", valueName: "url"))
        var targets: [String] = []

        @Option(help: ArgumentHelp("Rotate on a schedule, this long after the last rotation (e.g. P30D).", valueName: "duration"))
        var every: String?

        @Option(help: ArgumentHelp("Rotate this long before the key's provider expiry (e.g. P7D).", valueName: "duration"))
        var beforeExpiry: String?

        @Option(name: .customLong("label"), help: ArgumentHelp("A label key=value (repeat for several; on update, replaces them all).", valueName: "key=value"))
        var labels: [String] = []

        func validate() throws {
            for label in self.labels where !label.contains("=") { throw ValidationError("--label takes key=value, not \(label).") }
        }

        /// The body members these set.
        var body: [String: Any] {
            var body: [String: Any] = [:]
            if !self.targets.isEmpty { body["targets"] = self.targets.map { ["type": "webhook", "url": $0] } }
            if self.every != nil || self.beforeExpiry != nil {
                body["schedule"] = [("every", self.every), ("before_expiry", self.beforeExpiry)].reduce(into: [String: String]()) { $0[$1.0] = $1.1 }
            }
            if !self.labels.isEmpty {
                body["labels"] = Dictionary(self.labels.map { label in
                    let parts = label.split(separator: "=", maxSplits: 1)
                    return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
                }) { $1 }
            }
            return body
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a credential; its key is read from stdin or --secret-file, never from a flag.",
            discussion: "Rotor checks the key with the provider before it stores it."
        )
        @Argument(help: "A name for the credential.") var name: String
        @Option(help: "A provider definition the server loaded (GET /v1/providers), e.g. vultr or vultr-user.") var provider = "vultr"
        @Option(help: ArgumentHelp("A file holding the key (default: stdin).", valueName: "path")) var secretFile: String?
        @Option(help: ArgumentHelp("The provider's id of the key, when it cannot be looked up.", valueName: "id")) var providerKeyID: String?
        @Option(help: ArgumentHelp("Give each new key this provider expiry (e.g. P90D).", valueName: "duration")) var keyExpiry: String?
        @Option(help: ArgumentHelp("For a provider whose keys another key manages (vultr-user): the managing credential (name or id).", valueName: "credential"))
        var manager: String?
        @Option(help: ArgumentHelp("With --manager, the user whose keys these are (Vultr: the sub-user's id).", valueName: "id")) var subject: String?
        @OptionGroup var settings: Settings
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let secret = try SecretInput.read(file: self.secretFile)
            var body = self.settings.body
            body["name"] = self.name
            body["provider"] = self.provider
            body["secret"] = secret
            if body["targets"] == nil { body["targets"] = [Any]() }
            if let providerKeyID { body["provider_key_id"] = providerKeyID }
            if let keyExpiry { body["key_expiry"] = keyExpiry }
            if let subject { body["subject"] = subject }
            try await self.client.run { client, out in
                if let manager { body["manager_credential_id"] = try await client.credentialID(manager) }
                let (credential, json) = try await client.fetch(CredentialSummary.self, .createCredential, body: try JSONSerialization.data(withJSONObject: body))
                out.show(json) { Show.describe(credential, out) }
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a credential's targets, schedule, labels or state.")
        @Argument(help: "The credential's name or id.") var credential: String
        @Option(help: "active, or disabled (no rotations).") var state: String?
        @Flag(help: "Remove the schedule.") var noSchedule = false
        @OptionGroup var settings: Settings
        @OptionGroup var client: ClientOptions

        func validate() throws {
            if self.noSchedule, self.settings.every != nil || self.settings.beforeExpiry != nil {
                throw ValidationError("--no-schedule contradicts --every and --before-expiry.")
            }
            guard !self.body.isEmpty else { throw ValidationError("Nothing to change: give --state, --target, --every, --before-expiry, --no-schedule or --label.") }
        }

        private var body: [String: Any] {
            var body = self.settings.body
            if let state { body["state"] = state }
            if self.noSchedule { body["schedule"] = NSNull() }
            return body
        }

        func run() async throws {
            let body = self.body
            try await self.client.run { client, out in
                let id = try await client.credentialID(self.credential)
                let (credential, json) = try await client.fetch(CredentialSummary.self, .updateCredential, id: id, body: try JSONSerialization.data(withJSONObject: body))
                out.show(json) { Show.describe(credential, out) }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a credential (its key stays at the provider).")
        @Argument(help: "The credential's name or id.") var credential: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.delete(self.credential, CredentialSummary.self, with: .deleteCredential)
        }
    }
}

/// A secret read from a file or stdin, never from a flag (flags show in the process list).
enum SecretInput {
    static func read(file: String?) throws -> String {
        let data: Data
        if let file {
            guard let contents = FileManager.default.contents(atPath: file) else { throw ValidationError("Cannot read \(file).") }
            data = contents
        } else {
            if isatty(STDIN_FILENO) == 1 { FileHandle.standardError.write(Data("Key (then Ctrl-D): ".utf8)) }
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        let secret = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty else { throw ValidationError("No key given: pipe it to stdin or name a file with --secret-file.") }
        return secret
    }
}
