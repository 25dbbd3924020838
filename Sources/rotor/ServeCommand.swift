import ArgumentParser
import Foundation
import Logging
import RotorAPI
import RotorHTTP
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// `rotor serve`: runs the HTTP API until SIGTERM or SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the Rotor HTTP API.",
        discussion: """
            Configuration comes from ROTOR_* environment variables; flags override them.
              ROTOR_LISTEN        host:port to listen on (default 127.0.0.1:8080)
              ROTOR_DATA_DIR      data directory (default ./data)
              ROTOR_ADMIN_TOKEN   bearer token of the bootstrap administrator (16+ characters)
              ROTOR_MASTER_KEY    base64 of 32 random bytes: the key-encryption key, or
              ROTOR_KEYRING_FILE  a keyring JSON file (mode 0600)
              ROTOR_LOG_LEVEL     trace, debug, info (default), notice, warning, error, critical
              ROTOR_EVENT_LOOPS   NIO event-loop threads (default: one per core)
            With --dev, a missing admin token and keyring are generated under the data directory.
            """
    )

    @Option(help: "The host:port to listen on (overrides ROTOR_LISTEN).")
    var listen: String?

    @Option(help: "The data directory (overrides ROTOR_DATA_DIR).")
    var dataDir: String?

    @Flag(help: "Generate a keyring and an admin token under the data directory if none is configured, and print the token.")
    var dev = false

    func run() async throws {
        // With TZ unset, glibc stats /etc/localtime on every log line's timestamp (one syscall per
        // request for the access log). Naming the same file explicitly lets it read it once.
        setenv("TZ", ":/etc/localtime", 0)
        let flags = ServeFlags(listen: self.listen, dataDir: self.dataDir, dev: self.dev)
        let configuration: ServeConfiguration
        do {
            configuration = try ServeConfiguration.resolve(flags: flags, environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("rotor serve: \(error)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
        if let loops = configuration.eventLoops {
            // Must be set before anything touches the singleton group.
            NIOSingletons.groupLoopCountSuggestion = loops
        }
        // Unbuffered, unlike print() into a pipe: the operator needs these lines now.
        FileHandle.standardOutput.write(Data(configuration.notices.map { $0 + "\n" }.joined().utf8))

        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = configuration.logLevel
            return handler
        }
        let logger = Logger(label: "rotor")

        let responder = RotorApplication.buildResponder(
            configuration: APIConfiguration(authenticator: AdminTokenAuthenticator(adminToken: configuration.adminToken))
        )
        let server = HTTPServer(configuration: configuration.http, responder: responder, logger: logger) { address in
            logger.info("listening", metadata: ["address": "\(address.ipAddress ?? configuration.http.host):\(address.port ?? 0)"])
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
        logger.info("stopped")
    }
}
