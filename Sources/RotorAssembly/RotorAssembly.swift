public import AsyncHTTPClient
public import Foundation
public import Logging
public import Prometheus
public import RotorAPI
public import RotorCore
public import RotorCrypto
public import RotorEngine
public import RotorHTTP
public import RotorPostgres
public import RotorProviders
import RotorSQLite
public import ServiceLifecycle
public import UnixSignals

/// Rotor's parts wired together: the one assembly `serve`, `serve --sandbox` and `demo` share.
public struct RotorAssembly: Sendable {
    public let store: any RotorStore
    /// With SQLite, the data directory's lock (one `serve` per SQLite database); nil on PostgreSQL.
    public let dataDirectoryLock: DataDirectoryLock?
    /// The PostgreSQL store, to close its pool at the end; nil with SQLite.
    public let postgres: PostgresStore?
    public let engine: RotationEngine
    public let dispatcher: OutboxDispatcher
    public let scheduler: RotationScheduler
    /// Prunes old outbox rows, hook deliveries and target delivery logs (`ROTOR_RETENTION`).
    public let retention: RetentionService
    /// Signs and publishes audit checkpoints (`ROTOR_AUDIT_CHECKPOINT_INTERVAL`).
    public let auditCheckpoints: AuditCheckpointService
    /// GitHub's secret-scanning keys as the leak intake trusts them now.
    public let githubKeys: GitHubKeySource
    /// What the API's routes call; tests build responders of their own over it.
    public let services: RotationServices
    public let responder: RouterResponder
    public let providerClient: HTTPClient
    /// Every metric of this assembly, served by `GET /metrics`.
    public let metrics: PrometheusCollectorRegistry

    public struct Settings: Sendable {
        public var dataDirectory: String
        public var keyring: Keyring
        public var adminToken: String
        public var vultrBaseURL: String
        public var retry: RetryPolicy
        public var maxConcurrentJobs: Int
        public var pollInterval: Duration = .seconds(1)
        /// How long a job's lease lasts unless renewed.
        public var leaseDuration: Duration = .seconds(30)
        /// How long one provider call may take (`ROTOR_PROVIDER_TIMEOUT`).
        public var providerTimeout: Duration = .seconds(10)
        /// GitHub's secret-scanning keys (`ROTOR_GITHUB_KEYS_FILE`), if configured.
        public var githubKeys: GitHubKeySet? = nil
        /// The file they came from, read again on SIGHUP or a change.
        public var githubKeysPath: String? = nil
        public var outboxRetry: RetryPolicy = OutboxConfiguration.defaultRetry
        /// `ROTOR_DATABASE_URL`: PostgreSQL instead of the SQLite file in the data directory.
        public var databaseURL: PostgresURL? = nil
        /// Where metrics go; `serve` passes the registry it bootstrapped swift-metrics with.
        public var metrics = PrometheusCollectorRegistry()
        /// Request-rate limits; `serve` passes `ROTOR_RATE_LIMIT_*` and `ROTOR_HOOK_RATE_LIMIT_*`.
        public var rateLimits: APIRateLimits = .unlimited
        /// `ROTOR_MAX_WAITS_PER_TOKEN`.
        public var maxWaitsPerToken = WaitLimits.defaultPerToken
        /// `ROTOR_MIN_SCHEDULE_PERIOD`.
        public var minimumSchedulePeriod: TimeInterval = 3_600
        /// Where targets, verify URLs and subscriptions may be (`ROTOR_OUTBOUND_ALLOW`): by default
        /// public addresses only.
        public var outboundPolicy = OutboundPolicy()
        /// What is pruned after how long (`ROTOR_RETENTION`).
        public var retention = RetentionPolicy()
        /// `ROTOR_AUDIT_CHECKPOINT_INTERVAL`.
        public var auditCheckpointInterval: TimeInterval = 3_600
        /// `ROTOR_AGENT_LIVENESS`: how recently an agent instance must have been heard from to count as live.
        public var agentLiveness: TimeInterval = 120
        /// `ROTOR_AGENT_VERIFY_TIMEOUT`: how long `verify` waits for agents unless a target says.
        public var agentVerifyTimeout: TimeInterval = 300
        /// The time the engine, the API and token expiry go by; tests set a clock of their own.
        public var clock: any RotorClock = SystemClock()
        /// Provider definitions from `ROTOR_PROVIDERS_DIR`, beside the built-in `vultr` and
        /// `vultr-user` (docs/providers.md).
        public var providerDefinitions: [ProviderDefinition] = []
        /// The providers, each metered; nil for one per definition (the built-in Vultr ones at
        /// `vultrBaseURL`). Tests set a fake.
        public var providers: [ProviderKind: any Provider]? = nil
        /// The level of the access log's line per request.
        public var accessLogLevel: Logger.Level = .info

        /// Every setting; those with defaults may be left out.
        public init(
            dataDirectory: String,
            keyring: Keyring,
            adminToken: String,
            vultrBaseURL: String,
            retry: RetryPolicy,
            maxConcurrentJobs: Int,
            pollInterval: Duration = .seconds(1),
            leaseDuration: Duration = .seconds(30),
            providerTimeout: Duration = .seconds(10),
            githubKeys: GitHubKeySet? = nil,
            githubKeysPath: String? = nil,
            outboxRetry: RetryPolicy = OutboxConfiguration.defaultRetry,
            databaseURL: PostgresURL? = nil,
            metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
            rateLimits: APIRateLimits = .unlimited,
            maxWaitsPerToken: Int = WaitLimits.defaultPerToken,
            minimumSchedulePeriod: TimeInterval = 3_600,
            outboundPolicy: OutboundPolicy = OutboundPolicy(),
            retention: RetentionPolicy = RetentionPolicy(),
            auditCheckpointInterval: TimeInterval = 3_600,
            clock: any RotorClock = SystemClock(),
            providers: [ProviderKind: any Provider]? = nil,
            accessLogLevel: Logger.Level = .info
        ) {
            self.dataDirectory = dataDirectory
            self.keyring = keyring
            self.adminToken = adminToken
            self.vultrBaseURL = vultrBaseURL
            self.retry = retry
            self.maxConcurrentJobs = maxConcurrentJobs
            self.pollInterval = pollInterval
            self.leaseDuration = leaseDuration
            self.providerTimeout = providerTimeout
            self.githubKeys = githubKeys
            self.githubKeysPath = githubKeysPath
            self.outboxRetry = outboxRetry
            self.databaseURL = databaseURL
            self.metrics = metrics
            self.rateLimits = rateLimits
            self.maxWaitsPerToken = maxWaitsPerToken
            self.minimumSchedulePeriod = minimumSchedulePeriod
            self.outboundPolicy = outboundPolicy
            self.retention = retention
            self.auditCheckpointInterval = auditCheckpointInterval
            self.clock = clock
            self.providers = providers
            self.accessLogLevel = accessLogLevel
        }

        /// These settings with the agent timings (`ROTOR_AGENT_LIVENESS`, `ROTOR_AGENT_VERIFY_TIMEOUT`).
        public func with(agentLiveness: TimeInterval, agentVerifyTimeout: TimeInterval) -> Settings {
            var settings = self
            settings.agentLiveness = agentLiveness
            settings.agentVerifyTimeout = agentVerifyTimeout
            return settings
        }

        /// These settings with provider definitions loaded from `ROTOR_PROVIDERS_DIR`.
        public func with(providerDefinitions: [ProviderDefinition]) -> Settings {
            var settings = self
            settings.providerDefinitions = providerDefinitions
            return settings
        }
    }

    /// When the PostgreSQL store opens (SQLite's opens at once either way).
    public enum StoreOpening: Sendable {
        /// In the initializer, its pool running in a task of its own; ``shutdownClients()`` closes it.
        case now
        /// In ``run(services:gracefulShutdownSignals:beforeStart:logger:)``, its pool running as a
        /// service of the ServiceGroup.
        case inServiceGroup
    }

    private let storeOpening: StoreOpening

    /// Builds Rotor's parts on the store `settings` names.
    public init(_ settings: Settings, storeOpening: StoreOpening = .now, logger: Logger) async throws {
        self.storeOpening = storeOpening
        if let url = settings.databaseURL {
            // The pool serves the engine's jobs, the API and the listener; each store call holds a
            // connection for one short transaction, so 20 serve 64 concurrent jobs, and three
            // instances stay well within PostgreSQL's default max_connections of 100.
            let postgres = try PostgresStore(
                url: url, keyring: settings.keyring, maximumConnections: min(20, settings.maxConcurrentJobs + 4), logger: logger)
            if storeOpening == .now { try await postgres.connect() }
            // The URL's description replaces its password with ***.
            logger.info("store: PostgreSQL", metadata: ["database": "\(url)"])
            self.postgres = postgres
            self.store = postgres
            self.dataDirectoryLock = nil
        } else {
            self.postgres = nil
            // Before the database is opened: a second `serve` on it stops here.
            self.dataDirectoryLock = try DataDirectoryLock(settings.dataDirectory)
            self.store = try await SQLiteStore.connect(path: DataDirectory.path(settings.dataDirectory, "rotor.sqlite"), keyring: settings.keyring)
        }
        self.metrics = settings.metrics
        let metricsFactory = RotorMetrics.factory(registry: settings.metrics)
        self.providerClient = ProviderHTTP.makeClient(maximumConnections: settings.maxConcurrentJobs)
        // Metered once here, so the engine's calls and the API's validation calls are counted alike.
        let providers = (settings.providers ?? Self.definedProviders(settings, client: self.providerClient))
            .mapValues { MeteredProvider($0, factory: metricsFactory) as any Provider }
        let delivery = WebhookDelivery(policy: settings.outboundPolicy)
        let fingerprint: @Sendable (Secret) -> String = { SHA256.fingerprint(of: $0.reveal()) }
        let owner = try Self.instanceID(in: settings.dataDirectory)
        var engineConfiguration = EngineConfiguration(
            owner: owner,
            maxConcurrentJobs: settings.maxConcurrentJobs,
            leaseDuration: Double(settings.leaseDuration.components.seconds) + Double(settings.leaseDuration.components.attoseconds) / 1e18,
            pollInterval: settings.pollInterval,
            retry: settings.retry,
            providerTimeout: settings.providerTimeout
        )
        engineConfiguration.agentLiveness = settings.agentLiveness
        engineConfiguration.agentVerifyTimeout = settings.agentVerifyTimeout
        let engine = RotationEngine(
            store: self.store,
            providers: providers,
            delivery: delivery,
            clock: settings.clock,
            configuration: engineConfiguration,
            fingerprint: fingerprint,
            metrics: metricsFactory,
            logger: logger
        )
        self.engine = engine
        // Other instances' new jobs, cancels and released leases wake this engine at once.
        self.store.observeJobs { Task { await engine.wake() } }
        let dispatcher = OutboxDispatcher(
            store: self.store,
            sender: delivery,
            configuration: OutboxConfiguration(owner: owner, pollInterval: settings.pollInterval, retry: settings.outboxRetry),
            logger: logger
        )
        self.dispatcher = dispatcher
        self.scheduler = RotationScheduler(
            store: self.store,
            jobStarted: { _ in await engine.wake() },
            logger: logger
        )
        self.retention = RetentionService(store: self.store, policy: settings.retention, metrics: metricsFactory, logger: logger)
        self.auditCheckpoints = AuditCheckpointService(store: self.store, interval: settings.auditCheckpointInterval, logger: logger)
        let store = self.store
        let githubKeys = GitHubKeySource(settings.githubKeys, path: settings.githubKeysPath)
        self.githubKeys = githubKeys
        var services = RotationServices(
            store: store,
            providers: providers,
            wakeEngine: { await engine.wake() },
            clock: settings.clock,
            waitLimits: WaitLimits(perToken: settings.maxWaitsPerToken)
        )
        services.providerCatalog = (ProviderDefinitions.builtIn + settings.providerDefinitions).map { definition in
            let builtIn = ProviderDefinitions.builtIn.contains(definition)
            return ProviderSummary(
                name: definition.name,
                displayName: definition.displayName,
                management: definition.management.rawValue,
                baseURL: builtIn ? settings.vultrBaseURL : definition.baseURL,
                source: builtIn ? "builtin" : "ROTOR_PROVIDERS_DIR",
                available: providers[ProviderKind(rawValue: definition.name)] != nil
            )
        }
        services.minimumSchedulePeriod = settings.minimumSchedulePeriod
        services.outboundPolicy = settings.outboundPolicy
        services.agentLiveness = settings.agentLiveness
        self.services = services
        self.responder = RotorApplication.buildResponder(
            configuration: APIConfiguration(
                authenticator: CompositeTokenAuthenticator([
                    // The bootstrap token first: it never costs a store lookup.
                    AdminTokenAuthenticator(adminToken: settings.adminToken),
                    StoreTokenAuthenticator(store: store, clock: settings.clock),
                ]),
                readinessChecks: [
                    ReadinessCheck(name: "store") { (try? await store.credentials(PageRequest(limit: 1))) != nil },
                    ReadinessCheck(name: "engine") { await engine.isAccepting },
                    ReadinessCheck(name: "outbox") { await dispatcher.isAccepting },
                ],
                accessLogLevel: settings.accessLogLevel,
                services: services,
                githubKeySource: githubKeys,
                metrics: settings.metrics,
                rateLimits: settings.rateLimits
            )
        )
    }

    /// Builds the assembly, runs `body` with it, and closes its clients afterwards, whether `body`
    /// returns or throws. Its services run only if `body` runs them.
    public static func with<T: Sendable>(
        _ settings: Settings, logger: Logger, _ body: (RotorAssembly) async throws -> T
    ) async throws -> T {
        let assembly = try await RotorAssembly(settings, logger: logger)
        let value: T
        do {
            value = try await body(assembly)
        } catch {
            try? await assembly.shutdownClients()
            throw error
        }
        try await assembly.shutdownClients()
        return value
    }

    /// The store could not be opened (``run(services:gracefulShutdownSignals:beforeStart:logger:)``).
    public struct StoreOpenError: Error, CustomStringConvertible {
        public let underlying: any Error

        public var description: String { "\(self.underlying)" }
    }

    /// Runs Rotor in one ServiceGroup until one of `gracefulShutdownSignals`. With
    /// ``StoreOpening/inServiceGroup``, the PostgreSQL pool and store run first, and the store
    /// opens (migrations, ...) on the running pool; once it has and `beforeStart` has returned,
    /// the engine, the outbox dispatcher, retention, audit checkpoints, the scheduler and
    /// `services` start, in that order. They stop in reverse, the pool last.
    ///
    /// - Throws: ``StoreOpenError`` if the store cannot be opened; whatever `beforeStart` throws.
    public func run(
        services: [ServiceGroupConfiguration.ServiceConfiguration],
        gracefulShutdownSignals: [UnixSignal],
        beforeStart: () async throws -> Void,
        logger: Logger
    ) async throws {
        let own: [any Service] = [self.engine, self.dispatcher, self.retention, self.auditCheckpoints, self.scheduler]
        let rotor = own.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) } + services
        guard let postgres = self.postgres, self.storeOpening == .inServiceGroup else {
            try await beforeStart()
            try await ServiceGroup(
                configuration: ServiceGroupConfiguration(services: rotor, gracefulShutdownSignals: gracefulShutdownSignals, logger: logger)
            ).run()
            return
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: postgres.client), .init(service: postgres)], gracefulShutdownSignals: gracefulShutdownSignals,
                logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                do {
                    try await postgres.open()
                } catch {
                    throw StoreOpenError(underlying: error)
                }
                try await beforeStart()
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
            // Added one at a time, each once the one before is in: the group stops them in reverse.
            for service in rotor { await group.addServiceUnlessShutdown(service) }
            try await tasks.waitForAll()
        }
    }

    /// Closes the outbound HTTP clients' connections and the database pool; call once the engine
    /// has stopped.
    public func shutdownClients() async throws {
        self.postgres?.shutdown()
        try await self.providerClient.shutdown()
    }

    /// Opens the SQLite store on a thread of its own: opening migrates the file and syncs each
    /// step, work that must not hold one of Swift's few concurrency threads (STYLE.md rule 9).
    /// One provider per definition: the built-in `vultr` and `vultr-user` at
    /// `ROTOR_VULTR_BASE_URL`, and each of `ROTOR_PROVIDERS_DIR`'s at its `base_url`. A provider
    /// whose keys a manager credential manages is made for each credential's subject as it is
    /// used (``Provider/managing(subject:with:)``).
    static func definedProviders(_ settings: Settings, client: HTTPClient) -> [ProviderKind: any Provider] {
        var providers: [ProviderKind: any Provider] = [:]
        for definition in ProviderDefinitions.builtIn + settings.providerDefinitions {
            let builtIn = ProviderDefinitions.builtIn.contains(definition)
            // Without a subject, DefinedProvider's init throws for no definition.
            guard let provider = try? DefinedProvider(
                definition: definition,
                baseURL: builtIn ? settings.vultrBaseURL : definition.baseURL,
                client: client,
                requestTimeout: settings.providerTimeout
            ) else { continue }
            providers[provider.kind] = provider
        }
        return providers
    }

    /// This data directory's instance name, kept in `instance-id`. Leases carry it, so a restarted
    /// instance takes its own jobs back at once instead of waiting for their leases to lapse.
    public static func instanceID(in dataDirectory: String) throws -> String {
        let path = DataDirectory.path(dataDirectory, "instance-id")
        if let data = FileManager.default.contents(atPath: path) {
            let id = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !id.isEmpty { return id }
        }
        let id = "rotor-" + SecureRandom.bytes(count: 8).hexString
        try Data((id + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        return id
    }
}
