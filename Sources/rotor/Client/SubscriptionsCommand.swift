import ArgumentParser
import Foundation
import RotorClient

/// `rotor subscriptions`: URLs that receive Rotor's events.
struct SubscriptionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscriptions",
        abstract: "List, show and delete event subscriptions.",
        subcommands: [List.self, Show.self, Delete.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the subscriptions.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.run { client, out in
                let listing = try await client.all(SubscriptionSummary.self, .listSubscriptions)
                out.show(listing.json) {
                    out.table(["ID", "URL", "EVENTS", "AGE"], listing.items.map { [$0.id, $0.url, ($0.events ?? []).joined(separator: ","), Age.since($0.createdAt)] })
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a subscription.")
        @Argument(help: "The subscription's id or URL.") var subscription: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.run { client, out in
                let id = try await client.resolve(self.subscription, SubscriptionSummary.self)
                let (subscription, json) = try await client.fetch(SubscriptionSummary.self, .getSubscription, id: id)
                out.show(json) {
                    out.fields([
                        ("id", subscription.id), ("url", subscription.url), ("events", (subscription.events ?? []).joined(separator: ", ")),
                        ("created", "\(Age.since(subscription.createdAt)) ago"),
                    ])
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a subscription: no more deliveries to it.")
        @Argument(help: "The subscription's id or URL.") var subscription: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.delete(self.subscription, SubscriptionSummary.self, with: .deleteSubscription)
        }
    }
}
