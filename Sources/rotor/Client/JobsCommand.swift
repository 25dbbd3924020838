import ArgumentParser
import Foundation
import RotorClient

/// `rotor jobs`: rotation jobs, their timelines, cancelling them.
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List, show, follow and cancel rotation jobs.",
        subcommands: [List.self, Show.self, Events.self, Cancel.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")
        @Option(help: "Only this credential's jobs (name or id).") var credential: String?
        @Option(help: "Only jobs in this state (queued, running, succeeded, rolled_back, cancelled, failed).") var state: String?
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.run { client, out in
                var query: [(String, String)] = []
                if let credential { query.append(("credential_id", try await client.credentialID(credential))) }
                if let state { query.append(("state", state)) }
                let listing = try await client.all(JobSummary.self, .listJobs, query: query)
                out.show(listing.json) {
                    out.table(
                        ["ID", "CREDENTIAL", "STATE", "STEP", "AGE", "ERROR"],
                        listing.items.map { [$0.id, $0.credentialID, $0.state, $0.step, Age.since($0.createdAt), $0.error?.message ?? ""] },
                        paint: [2: Printer.style(ofState:)])
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a job; with --follow, print its steps as they happen and exit with its outcome.")
        @Argument(help: "The job's id.") var job: String
        @Flag(help: "Print the job's steps as they happen; exit 0 if it succeeded, 1 otherwise.") var follow = false
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.run { client, out in
                guard !self.follow else { return try await JobFollower(client: client, out: out).follow(self.job) }
                let (job, json) = try await client.fetch(JobSummary.self, .getJob, id: self.job)
                out.show(json) {
                    out.fields([
                        ("id", job.id), ("credential", job.credentialID),
                        ("state", out.paint(job.state, Printer.style(ofState: job.state))), ("step", job.step),
                        ("dry run", job.dryRun ? "yes" : nil), ("reason", job.reason), ("attempt", job.attempt.map(String.init)),
                        ("started", "\(Age.since(job.createdAt)) ago"), ("finished", job.finishedAt.map { "\(Age.since($0)) ago" }),
                        ("error", job.error.map { "\($0.message) (\($0.code))" }),
                    ])
                }
            }
        }
    }

    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a job's timeline.")
        @Argument(help: "The job's id.") var job: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.run { client, out in
                let (page, json) = try await client.fetch(Page<JobEventSummary>.self, .listJobEvents, id: self.job)
                out.show(json) {
                    out.table(["SEQ", "AGE", "STEP", "TYPE", "MESSAGE"], page.data.map { ["\($0.seq)", Age.since($0.at), $0.step ?? "-", $0.type, $0.message] })
                }
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ask a job to stop; one past its point of no return goes on.")
        @Argument(help: "The job's id.") var job: String
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await self.client.run { client, out in
                let (job, json) = try await client.fetch(JobSummary.self, .cancelJob, id: self.job)
                out.show(json) { ["\(job.id) \(job.state) (cancellation requested)"] }
            }
        }
    }
}
