import ArgumentParser
import Foundation
import Logging
import RotorAgent
import RotorAssembly
import RotorHTTP
import ServiceLifecycle
import UnixSignals

/// `rotor agent`: runs beside a workload, keeps its key file current and confirms each new key
/// to Rotor (docs/agents.md).
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Keep a workload's key file current and confirm each new key to Rotor.",
        discussion: """
            Every option has a ROTOR_AGENT_<NAME> variable (--token-file: ROTOR_AGENT_TOKEN_FILE); flags override variables, which override the --config file. The token comes from a file or ROTOR_AGENT_TOKEN, never from a flag. ROTOR_LOG_LEVEL and ROTOR_LOG_FORMAT set logging.

            Exit status: 0 stopped (or --once succeeded), 1 --once failed, 78 bad configuration. See docs/agents.md.
            """
    )

    @Option(help: "A JSON config file (several credentials, a template).")
    var config: String?
    @Option(help: "Rotor's base URL.")
    var url: String?
    @Option(help: "A file holding the agent-scoped token.")
    var tokenFile: String?
    @Option(help: "This instance's name (default: the host name).")
    var instance: String?
    @Option(help: "The credential's agent group.")
    var group: String?
    @Option(help: "The credential id (cred_…).")
    var credential: String?
    @Option(help: "Where to write the key.")
    var file: String?
    @Option(help: "The key file's mode (default 0600).")
    var mode: String?
    @Option(help: "The key file's owner, user[:group].")
    var owner: String?
    @Option(help: "A template with {{credential.<id>}} placeholders to render.")
    var template: String?
    @Option(help: "Where to write the rendered template.")
    var templateOutput: String?
    @Option(help: "Run with /bin/sh -c after a new key is written.")
    var reload: String?
    @Option(help: "Run with /bin/sh -c after the reload; exit 0 means the key works.")
    var check: String?
    @Option(help: "How long the reload or the check may run (default 30s).")
    var commandTimeout: String?
    @Option(help: "Where to remember what was applied across restarts.")
    var stateFile: String?
    @Flag(help: "Fetch, apply, check and acknowledge once, then exit (0 success, 1 failure).")
    var once = false
    @Option(help: "The least time between two fetches that return the same key (default 5s, at least 1s).")
    var pollInterval: String?
    @Option(help: "How long Rotor may hold a fetch open waiting for a new key (default PT60S).")
    var wait: String?
    @Option(help: "A PEM file of CA certificates to trust for Rotor's TLS certificate.")
    var caFile: String?

    func run() async throws {
        ProcessHardening.apply()  // it holds keys and a token
        var flags = AgentFlags()
        flags.config = self.config
        flags.url = self.url
        flags.tokenFile = self.tokenFile
        flags.instance = self.instance
        flags.group = self.group
        flags.credential = self.credential
        flags.file = self.file
        flags.mode = self.mode
        flags.owner = self.owner
        flags.template = self.template
        flags.templateOutput = self.templateOutput
        flags.reload = self.reload
        flags.check = self.check
        flags.commandTimeout = self.commandTimeout
        flags.stateFile = self.stateFile
        flags.once = self.once
        flags.pollInterval = self.pollInterval
        flags.wait = self.wait
        flags.caFile = self.caFile
        let environment = ProcessInfo.processInfo.environment
        let level = Logger.Level(rawValue: (environment["ROTOR_LOG_LEVEL"] ?? "info").lowercased())
        let format = LogFormat(rawValue: (environment["ROTOR_LOG_FORMAT"] ?? "text").lowercased())
        let configuration: AgentConfiguration
        do {
            configuration = try AgentConfiguration.resolve(flags: flags, environment: environment)
            guard level != nil, format != nil else {
                throw AgentConfigurationError(problems: [
                    .init(field: level == nil ? "ROTOR_LOG_LEVEL" : "ROTOR_LOG_FORMAT", reason: "is not one of \(level == nil ? "trace, debug, info, notice, warning, error, critical" : "text, json")")
                ])
            }
        } catch let error as AgentConfigurationError {
            let lines = error.problems.map { "rotor agent: \($0.field): \($0.reason)\n" }.joined()
            FileHandle.standardError.write(Data(lines.utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
        format!.bootstrap(level: level!)
        let logger = Logger(label: "rotor-agent")
        let runner: AgentRunner
        do {
            runner = try AgentRunner(configuration: configuration, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("rotor agent: --ca-file: \(error)\n".utf8))
            throw ExitCode(78)
        }
        if configuration.once {
            let succeeded = await runner.runOnce()
            await runner.shutdown()
            if !succeeded { throw ExitCode(1) }
            return
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: runner)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            await runner.shutdown()
            throw error
        }
        await runner.shutdown()
    }
}
