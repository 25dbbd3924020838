import ArgumentParser

/// `rotor`: the Rotor service and its operator tools.
@main
struct RotorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotor",
        abstract: "Zero-downtime API key rotation as durable asynchronous jobs.",
        version: "0.1.0",
        subcommands: [ServeCommand.self, AgentCommand.self, DemoCommand.self, KeyringCommand.self, AuditCommand.self]
    )
}
