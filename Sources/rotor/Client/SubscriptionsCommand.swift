import ArgumentParser
import Foundation
import RotorClient

/// `rotor subscriptions`: URLs that receive Rotor's events.
struct SubscriptionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscriptions",
        abstract: "Create, list, show and delete event subscriptions.",
        subcommands: [Create.self, List.self, Show.self, Delete.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Subscribe a URL to Rotor's events; the signing secret is printed this once.")
        @Argument(help: ArgumentHelp("Where the events are sent: https, or http to a loopback host.", valueName: "events-url")) var url: String
        @Option(
            name: .customLong("event"),
            help: ArgumentHelp(
                "An event to send (repeat for several): job.started, job.succeeded, job.rolled_back, job.failed, job.cancelled, credential.attention, credential.expiring, audit.checkpoint.",
                valueName: "event"))
        var events: [String]
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.run { client, out in
                let body = try JSONSerialization.data(withJSONObject: ["url": self.url, "events": self.events] as [String: Any])
                let (subscription, json) = try await client.fetch(SubscriptionSummary.self, .createSubscription, body: body)
                out.show(json) {
                    ["\(subscription.id) \(subscription.url)", "signing secret (shown this once): \(subscription.secret ?? "?")"]
                }
            }
        }
    }

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
