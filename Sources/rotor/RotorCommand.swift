import ArgumentParser
import Foundation

/// `rotor`: the Rotor service and its operator tools.
@main
struct RotorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotor",
        abstract: "Zero-downtime API key rotation as durable asynchronous jobs.",
        discussion: """
            The operator commands (status, credentials, rotate, jobs, tokens, triggers,
            subscriptions, audit list) talk to a running Rotor over its API: --url or
            ROTOR_URL, and --token, ROTOR_TOKEN or --token-file.
            Exit codes: 0 done; 1 a request was refused or a followed job did not
            succeed; 2 usage; 3 Rotor unreachable or silent past --timeout.
            Reference: docs/cli.md.
            """,
        version: "0.1.0",
        subcommands: [
            ServeCommand.self, StatusCommand.self, CredentialsCommand.self, RotateCommand.self, JobsCommand.self,
            TokensCommand.self, TriggersCommand.self, SubscriptionsCommand.self, AuditCommand.self, AgentCommand.self,
            DemoCommand.self, KeyringCommand.self,
        ]
    )

    /// ArgumentParser's own entry point, but a usage error exits 2 (as most Unix tools do)
    /// rather than 64, so that scripts can tell it from a refused request (1) and no answer (3).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        }
    }
}
