import ArgumentParser
import Foundation
import RotorClient

/// `rotor triggers`: inbound webhooks that start rotations.
struct TriggersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "triggers",
        abstract: "List, show and delete inbound triggers (signed hooks that start rotations).",
        subcommands: [List.self, Show.self, Delete.self]
    )

    static func rows(_ triggers: [TriggerSummary]) -> [[String]] {
        triggers.map { [$0.id, $0.scheme ?? "", ($0.credentialIDs ?? []).joined(separator: ","), $0.description ?? "", Age.since($0.createdAt)] }
    }
    static let header = ["ID", "SCHEME", "CREDENTIALS", "DESCRIPTION", "AGE"]

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

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a trigger: its hook stops answering.")
        @Argument(help: "The trigger's id or description.") var trigger: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.delete(self.trigger, TriggerSummary.self, with: .deleteTrigger)
        }
    }
}
