import ArgumentParser
import Foundation
import RotorClient

/// `rotor status`: every credential at a glance, and what needs a person.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Every credential's state, key age, next rotation and last job, and what needs attention.",
        discussion: """
            Needs attention: a credential in state attention or disabled, a last job that did not
            succeed, a scheduled rotation overdue, a key that expires within 7 days.
            With --output json: {"credentials": [{"credential": …, "last_job": …, "attention": […]}]}.
            """
    )
    @OptionGroup var client: ClientOptions

    func run() async throws {
        try await self.client.run { client, out in
            let listing = try await client.all(CredentialSummary.self, .listCredentials)
            let raw = ((try? JSONSerialization.jsonObject(with: listing.json)) as? [String: Any])?["data"] as? [Any] ?? []
            var rows: [[String]] = []
            var entries: [[String: Any]] = []
            for (index, credential) in listing.items.enumerated() {
                let (page, json) = try await client.fetch(Page<JobSummary>.self, .listJobs, query: [("credential_id", credential.id), ("limit", "1")])
                let job = page.data.first
                let attention = Self.attention(credential, job)
                rows.append([
                    credential.name ?? credential.id, credential.state, Age.since(credential.current?.createdAt), Age.until(credential.nextRotationAt),
                    job.map { "\($0.state) \(Age.since($0.createdAt)) ago" } ?? "none", attention.joined(separator: "; "),
                ])
                let lastJob = (((try? JSONSerialization.jsonObject(with: json)) as? [String: Any])?["data"] as? [Any])?.first
                let rawCredential: Any = index < raw.count ? raw[index] : NSNull()
                entries.append(["credential": rawCredential, "last_job": lastJob ?? NSNull(), "attention": attention])
            }
            switch out.format {
            case .json:
                out.json(try JSONSerialization.data(withJSONObject: ["credentials": entries], options: [.sortedKeys, .withoutEscapingSlashes]))
            case .table:
                out.table(["NAME", "STATE", "KEY AGE", "NEXT ROTATION", "LAST JOB", "ATTENTION"], rows, paint: [1: Printer.style(ofState:), 5: { $0.isEmpty ? .plain : .bad }])
                    .forEach { out.line($0) }
                let needing = rows.filter { !$0[5].isEmpty }.count
                out.line(needing == 0 ? "Nothing needs attention." : "\(needing) of \(rows.count) credentials need attention.")
            }
        }
    }

    /// What needs a person about `credential`, given its newest job.
    static func attention(_ credential: CredentialSummary, _ job: JobSummary?, now: Date = Date()) -> [String] {
        var reasons: [String] = []
        if credential.state == "attention" { reasons.append("needs attention") }
        if credential.state == "disabled" { reasons.append("disabled") }
        if let job, job.isTerminal, job.state != "succeeded" {
            reasons.append("last job \(job.state)" + (job.error.map { ": \($0.message)" } ?? ""))
        }
        if let next = credential.nextRotationAt, next < now.addingTimeInterval(-3_600) { reasons.append("rotation overdue") }
        if let expiry = credential.current?.expiresAt, expiry < now.addingTimeInterval(7 * 86_400) {
            reasons.append("key expires \(Age.until(expiry, now: now))")
        }
        return reasons
    }
}
