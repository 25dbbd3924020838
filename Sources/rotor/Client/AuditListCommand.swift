import ArgumentParser
import Foundation
import RotorClient

/// `rotor audit list`: the audit log over the API (`rotor audit verify` checks it on disk).
struct AuditListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List audit log entries, oldest first, a page at a time.",
        discussion: "Table output ends with the --cursor of the next page when there is one."
    )
    @Option(help: "Entries per page (1–200).") var limit = 50
    @Option(help: "Where to go on from (the cursor the previous page printed).") var cursor: String?
    @OptionGroup var client: ClientOptions

    func run() async throws {
        try await self.client.run { client, out in
            let (page, json) = try await client.fetch(
                Page<AuditEntrySummary>.self, .listAuditEntries, query: [("limit", "\(self.limit)")] + (self.cursor.map { [("cursor", $0)] } ?? []))
            out.show(json) {
                out.table(
                    ["SEQ", "AGE", "ACTOR", "ACTION", "RESOURCE", "OUTCOME"],
                    page.data.map { ["\($0.seq)", Age.since($0.at), $0.actor, $0.action, $0.resource ?? "", $0.outcome ?? ""] }
                ) + (page.nextCursor.map { ["next page: --cursor \($0)"] } ?? [])
            }
        }
    }
}
