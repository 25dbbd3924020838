import ArgumentParser
import AsyncHTTPClient
import CoreMetrics
import FakeVultr
import Foundation
import Logging
import Prometheus
import RotorAPI
import RotorCore
import RotorCrypto
import RotorEngine
import RotorProviders
import RotorSQLite
import RotorHTTP
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals
import RotorAssembly

/// `rotor serve`: runs the HTTP API until SIGTERM or SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the Rotor HTTP API.",
        discussion: """
            Configuration comes from ROTOR_* environment variables; flags override them.
            docs/configuration.md lists them all; the main ones:

              ROTOR_LISTEN          host:port to listen on (default 127.0.0.1:8080)
              ROTOR_DATA_DIR        data directory (default ./data)
              ROTOR_DATABASE_URL    postgres://user:password@host:port/database:
                                    PostgreSQL instead of SQLite, for several instances
              ROTOR_ADMIN_TOKEN     the bootstrap administrator's token (16+ characters)
              ROTOR_MASTER_KEY      base64 of 32 random bytes: the key-encryption key,
              ROTOR_KEYRING_FILE    or a keyring JSON file (mode 0600)
              ROTOR_LOG_LEVEL       trace, debug, info (default), notice, warning, error
              ROTOR_LOG_FORMAT      text (default) or json (one object per line)
              ROTOR_EVENT_LOOPS     NIO event-loop threads (default: one per core)
              ROTOR_VULTR_BASE_URL  Vultr API base URL (default https://api.vultr.com)
              ROTOR_PROVIDERS_DIR   provider definitions (*.yaml) to load; a refused
                                    one stops start-up (exit 78; docs/providers.md)
              ROTOR_RETRY_BASE, ROTOR_RETRY_MAX, ROTOR_STEP_ATTEMPTS,
              ROTOR_MAX_CONCURRENT_JOBS
                                    engine retries and concurrency (PT1S, PT5M, 8, 64)
              ROTOR_LEASE_DURATION  how long a job's lease lasts unless renewed (PT30S):
                                    how soon another instance takes over a dead one's jobs
              ROTOR_PROVIDER_TIMEOUT
                                    how long one provider call may take (PT10S); a
                                    create cut off by a crash is waited out this long
                                    before its orphan is sought
              ROTOR_OUTBOX_RETRY_BASE, ROTOR_OUTBOX_RETRY_MAX
                                    subscription delivery backoff (PT5S, PT1H; retries
                                    end after 24 h)
              ROTOR_TLS_CERT_FILE, ROTOR_TLS_KEY_FILE
                                    PEM certificate chain and private key: serve HTTPS;
                                    SIGHUP reloads them
              ROTOR_ALLOW_PLAINTEXT=1
                                    allow plain HTTP on a non-loopback address (behind
                                    a TLS-terminating proxy); otherwise serve refuses

            With --dev, a missing admin token and keyring are generated under the data
            directory. Exits 78 if stored secrets are sealed under a key-encryption key
            the keyring lacks; `rotor keyring` rotates the keyring.
            """
    )

    @Option(help: "The host:port to listen on (overrides ROTOR_LISTEN).")
    var listen: String?

    @Option(help: ArgumentHelp("The data directory (overrides ROTOR_DATA_DIR).", valueName: "dir"))
    var dataDir: String?

    @Flag(help: "Generate a keyring and an admin token under the data directory if none is configured, and print the token.")
    var dev = false

    @Flag(help: "--dev plus an in-process fake Vultr API, for trying Rotor and the rotor commands; prints a sandbox API key to register.")
    var sandbox = false

    func run() async throws {
        // With TZ unset, glibc stats /etc/localtime on every log line's timestamp (one syscall per
        // request for the access log). Naming the same file explicitly lets it read it once.
        setenv("TZ", ":/etc/localtime", 0)
        ProcessHardening.apply()
        let flags = ServeFlags(listen: self.listen, dataDir: self.dataDir, dev: self.dev || self.sandbox)
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

        configuration.logFormat.bootstrap(level: configuration.logLevel)
        // Rotor's own parts record into this registry explicitly; the global bootstrap sends
        // anything else that uses swift-metrics to the same `GET /metrics`.
        let metrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(RotorMetrics.factory(registry: metrics))
        let logger = Logger(label: "rotor")
        guard self.sandbox else {
            try await self.serve(configuration, vultrBaseURL: configuration.vultrBaseURL, metrics: metrics, logger: logger)
            return
        }
        let fake = FakeVultr()
        let (_, sandboxKey) = fake.addUser(name: "Sandbox", email: "sandbox@example.com")
        try await fake.run { baseURL in
            let lines = [
                "rotor serve --sandbox: a fake Vultr API runs at \(baseURL) (in this process; keys live in memory)",
                "rotor serve --sandbox: a sandbox Vultr API key to register as a credential: \(sandboxKey)",
            ]
            FileHandle.standardOutput.write(Data(lines.map { $0 + "\n" }.joined().utf8))
            try await self.serve(configuration, vultrBaseURL: baseURL, metrics: metrics, logger: logger)
        }
    }

    private func serve(_ configuration: ServeConfiguration, vultrBaseURL: String, metrics: PrometheusCollectorRegistry, logger: Logger) async throws {
        var outboundPolicy = configuration.outboundPolicy
        if self.sandbox {
            // The sandbox is for trying Rotor on this machine: its targets are here too.
            outboundPolicy.allowedNetworks += OutboundPolicy.loopbackAllowed.allowedNetworks
        }

        let assembly: RotorAssembly
        do {
            assembly = try await RotorAssembly(
                RotorAssembly.Settings(
                    dataDirectory: configuration.dataDirectory,
                    keyring: configuration.keyring,
                    adminToken: configuration.adminToken,
                    vultrBaseURL: vultrBaseURL,
                    retry: configuration.retry,
                    maxConcurrentJobs: configuration.maxConcurrentJobs,
                    leaseDuration: configuration.leaseDuration,
                    providerTimeout: configuration.providerTimeout,
                    githubKeys: configuration.githubKeys,
                    githubKeysPath: configuration.githubKeysPath,
                    outboxRetry: configuration.outboxRetry,
                    databaseURL: configuration.databaseURL,
                    metrics: metrics,
                    rateLimits: configuration.rateLimits,
                    maxWaitsPerToken: configuration.maxWaitsPerToken,
                    minimumSchedulePeriod: configuration.minimumSchedulePeriod,
                    outboundPolicy: outboundPolicy,
                    retention: configuration.retention,
                    auditCheckpointInterval: configuration.auditCheckpointInterval
                ).with(agentLiveness: configuration.agentLiveness, agentVerifyTimeout: configuration.agentVerifyTimeout)
                    .with(providerDefinitions: configuration.providerDefinitions),
                storeOpening: .inServiceGroup,
                logger: logger
            )
        } catch {
            FileHandle.standardError.write(Data("rotor serve: cannot open the database: \(error)\n".utf8))
            throw ExitCode(74)  // EX_IOERR
        }
        let responder = assembly.responder
        // SIGHUP is trapped before the socket is bound, so a reload sent once the server is
        // listening is never missed, nor meets SIGHUP's default action (exit). Each reloader has
        // a sequence of its own; every one of them sees every signal.
        var reloaders: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if assembly.githubKeys.path != nil {
            let hangups = await UnixSignalsSequence(trapping: .sighup)
            reloaders.append(.init(service: GitHubKeyReloader(source: assembly.githubKeys, hangups: hangups, logger: logger)))
        }
        if let tls = configuration.http.tls {
            let hangups = await UnixSignalsSequence(trapping: .sighup)
            reloaders.append(.init(service: TLSReloader(tls: tls, hangups: hangups, logger: logger)))
            logger.info("TLS on", metadata: ["certificate": "\(tls.summary)"])
        } else if !configuration.isLoopbackListen {
            logger.warning(
                "serving plain HTTP on a non-loopback address (ROTOR_ALLOW_PLAINTEXT): bearer tokens and keys cross the network in clear unless a TLS-terminating proxy or a private network carries them",
                metadata: ["address": "\(configuration.http.host)"])
        }
        let tlsState = configuration.http.tls == nil ? "off" : "on"
        let server = HTTPServer(configuration: configuration.http, responder: responder, logger: logger) { address in
            logger.info("listening", metadata: ["address": "\(address.ipAddress ?? configuration.http.host):\(address.port ?? 0)", "tls": "\(tlsState)"])
        }
        do {
            // The store (with PostgreSQL, its pool) first; then, in this order, and stopped in
            // reverse: the engine, the dispatcher, retention, audit checkpoints, the scheduler and
            // HTTP. HTTP stops taking requests first, then the scheduler stops starting jobs, then
            // deliveries in flight are recorded, then the engine lets running steps reach their
            // commit.
            try await assembly.run(
                services: [.init(service: server)] + reloaders,
                gracefulShutdownSignals: [.sigterm, .sigint],
                beforeStart: { try await Self.checkKeyring(configuration.keyring, opens: assembly.store) },
                logger: logger)
        } catch let error as RotorAssembly.StoreOpenError {
            try? await assembly.shutdownClients()
            FileHandle.standardError.write(Data("rotor serve: cannot open the database: \(error)\n".utf8))
            throw ExitCode(74)  // EX_IOERR
        } catch {
            try? await assembly.shutdownClients()
            throw error
        }
        try? await assembly.shutdownClients()
        logger.info("stopped")
    }

    /// Refuses to start (exit 78) if stored secrets are sealed under a KEK the keyring lacks:
    /// jobs would fail on them one by one, later. The check reads the envelopes' KEK ids from an
    /// index; it decrypts nothing.
    static func checkKeyring(_ keyring: Keyring, opens store: any EnvelopeKeyStore) async throws {
        let missing: [String]
        do {
            missing = try await store.missingEnvelopeKeyIDs()
        } catch {
            FileHandle.standardError.write(Data("rotor serve: cannot read the database: \(error)\n".utf8))
            throw ExitCode(74)  // EX_IOERR
        }
        guard !missing.isEmpty else { return }
        let names = missing.map { $0.isEmpty ? "(an unreadable envelope header)" : $0 }.joined(separator: ", ")
        let message = """
            rotor serve: refusing to start: stored secrets are sealed under key-encryption key(s) \(names), \
            which the keyring (keys: \(keyring.keyIDs.joined(separator: ", "))) does not hold. \
            Start with a keyring that includes \(missing.count == 1 ? "it" : "them") (ROTOR_KEYRING_FILE), e.g. the keyring file from before \
            `rotor keyring remove`, or restore it from backup.

            """
        FileHandle.standardError.write(Data(message.utf8))
        throw ExitCode(78)  // EX_CONFIG
    }
}
