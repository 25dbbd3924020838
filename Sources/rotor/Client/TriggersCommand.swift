import ArgumentParser
import Foundation
import RotorClient

/// `rotor triggers`: inbound webhooks that start rotations.
struct TriggersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "triggers",
        abstract: "Create, list, show, roll and delete inbound triggers (signed hooks that start rotations).",
        subcommands: [Create.self, List.self, Show.self, RollSecret.self, Delete.self]
    )

    static func rows(_ triggers: [TriggerSummary]) -> [[String]] {
        triggers.map { [$0.id, $0.scheme ?? "", ($0.credentialIDs ?? []).joined(separator: ","), $0.description ?? "", Age.since($0.createdAt)] }
    }
    static let header = ["ID", "SCHEME", "CREDENTIALS", "DESCRIPTION", "AGE"]

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a trigger: its hook URL rotates the credentials named; the signing secret is printed this once.")
        @Option(name: .customLong("credential"), help: ArgumentHelp("A credential the hook rotates (name or id; repeat for several).", valueName: "credential"))
        var credentials: [String]
        @Option(help: ArgumentHelp("How callers sign: standard-webhooks (the default) or github.", valueName: "scheme")) var scheme: String?
        @Option(help: ArgumentHelp("What the trigger is for (names it in the other commands).", valueName: "text")) var description: String?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.run { client, out in
                var ids: [String] = []
                for credential in self.credentials { ids.append(try await client.credentialID(credential)) }
                var body: [String: Any] = ["credential_ids": ids]
                if let scheme { body["scheme"] = scheme }
                if let description { body["description"] = description }
                let (trigger, json) = try await client.fetch(TriggerSummary.self, .createTrigger, body: try JSONSerialization.data(withJSONObject: body))
                out.show(json) {
                    ["\(trigger.id) \(trigger.url ?? "")", "signing secret (shown this once): \(trigger.secret ?? "?")"]
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the triggers.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.run { client, out in
                let listing = try await client.all(TriggerSummary.self, .listTriggers)
                out.show(listing.json) { out.table(TriggersCommand.header, TriggersCommand.rows(listing.items)) }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a trigger.")
        @Argument(help: "The trigger's id or description.") var trigger: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.run { client, out in
                let id = try await client.resolve(self.trigger, TriggerSummary.self)
                let (trigger, json) = try await client.fetch(TriggerSummary.self, .getTrigger, id: id)
                out.show(json) {
                    out.fields([
                        ("id", trigger.id), ("scheme", trigger.scheme), ("hook", trigger.url), ("description", trigger.description),
                        ("credentials", (trigger.credentialIDs ?? []).joined(separator: ", ")), ("created", "\(Age.since(trigger.createdAt)) ago"),
                    ])
                }
            }
        }
    }

    struct RollSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "roll-secret",
            abstract: "Give a trigger a new signing secret, printed this once; the old one verifies for the overlap.")
        @Argument(help: "The trigger's id or description.") var trigger: String
        @Option(help: ArgumentHelp("How long the old secret still verifies (ISO 8601, at most P7D; default PT24H).", valueName: "duration"))
        var overlap: String?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.run { client, out in
                let id = try await client.resolve(self.trigger, TriggerSummary.self)
                let body = try JSONSerialization.data(withJSONObject: self.overlap.map { ["overlap": $0] } ?? [String: String]())
                let (trigger, json) = try await client.fetch(TriggerSummary.self, .rollTriggerSecret, id: id, body: body)
                out.show(json) {
                    [
                        "\(trigger.id) signing secret (shown this once): \(trigger.secret ?? "?")",
                        trigger.previousSecretExpiresAt.flatMap { $0 > Date() ? $0 : nil }.map {
                            "the old secret verifies until \($0.formatted(.iso8601)) (\(Age.until($0)))"
                        } ?? "the old secret no longer verifies",
                    ]
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a trigger: its hook stops answering.")
        @Argument(help: "The trigger's id or description.") var trigger: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.delete(self.trigger, TriggerSummary.self, with: .deleteTrigger)
        }
    }
}
