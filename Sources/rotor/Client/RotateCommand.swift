import ArgumentParser
import Foundation
import RotorClient

/// `rotor rotate NAME|ID`: starts a rotation job, and with `--follow` watches it to its end.
struct RotateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Rotate a credential's key now.",
        discussion: "Exits 0 once the job is started; with --follow, 0 if it succeeded and 1 otherwise."
    )
    @Argument(help: "The credential's name or id.") var credential: String
    @Option(help: ArgumentHelp("Keep the old key this long after the new one is out (e.g. P1D; at most P30D).", valueName: "duration"))
    var grace: String?
    @Flag(help: "Go through the steps without changing keys at the provider.") var dryRun = false
    @Option(help: "Why, for the job and the audit log.") var reason: String?
    @Flag(help: "Print the job's steps as they happen and exit with its outcome.") var follow = false
    @OptionGroup var client: ClientOptions

    func run() async throws {
        try await self.client.run { client, out in
            let id = try await client.credentialID(self.credential)
            var body: [String: Any] = ["credential_id": id]
            if let grace { body["grace_period"] = grace }
            if self.dryRun { body["dry_run"] = true }
            if let reason { body["reason"] = reason }
            let (job, json) = try await client.fetch(JobSummary.self, .createJob, body: try JSONSerialization.data(withJSONObject: body))
            guard self.follow else {
                out.show(json) { ["\(job.id) \(job.state)\(job.dryRun ? " (dry run)" : "")"] }
                return
            }
            try await JobFollower(client: client, out: out).follow(job.id)
        }
    }
}
