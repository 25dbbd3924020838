import ArgumentParser
import Foundation
import RotorClient

/// `rotor tokens`: API tokens.
struct TokensCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Create, list and revoke API tokens.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token; it is printed this once.")
        @Argument(help: "A name for the token.") var name: String
        @Option(name: .customLong("scope"), help: ArgumentHelp("A scope (repeat for several): admin, credentials:read, credentials:write, jobs:read, jobs:write, secrets:read, targets:write, agent.", valueName: "scope"))
        var scopes: [String]
        @Option(name: .customLong("credential"), help: ArgumentHelp("Bind the token to this credential (name or id; repeat for several).", valueName: "credential"))
        var credentials: [String] = []
        @Option(help: ArgumentHelp("When the token stops working (RFC 3339).", valueName: "time")) var expiresAt: String?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.run { client, out in
                var body: [String: Any] = ["name": self.name, "scopes": self.scopes]
                if !self.credentials.isEmpty {
                    var ids: [String] = []
                    for credential in self.credentials { ids.append(try await client.credentialID(credential)) }
                    body["credential_ids"] = ids
                }
                if let expiresAt { body["expires_at"] = expiresAt }
                let (token, json) = try await client.fetch(TokenSummary.self, .createToken, body: try JSONSerialization.data(withJSONObject: body))
                out.show(json) { ["\(token.id) \(token.name ?? "")", "token (shown this once): \(token.token ?? "?")"] }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens (never their values).")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.run { client, out in
                let listing = try await client.all(TokenSummary.self, .listTokens)
                out.show(listing.json) {
                    out.table(
                        ["NAME", "ID", "SCOPES", "CREDENTIALS", "AGE", "EXPIRES"],
                        listing.items.map {
                            [$0.name ?? "", $0.id, $0.scopes.joined(separator: ","), ($0.credentialIDs ?? []).joined(separator: ","), Age.since($0.createdAt), Age.until($0.expiresAt)]
                        })
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token: it stops working at once.")
        @Argument(help: "The token's name or id.") var token: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.delete(self.token, TokenSummary.self, with: .deleteToken, saying: "revoked")
        }
    }
}
