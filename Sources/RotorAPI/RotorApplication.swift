public import Logging
public import Prometheus
import RotorCore
public import RotorHTTP

/// Everything the v1 API needs from the process that hosts it.
public struct APIConfiguration: Sendable {
    /// Resolves bearer tokens on `/v1` routes.
    public var authenticator: any TokenAuthenticator
    /// What `/readyz` asks.
    public var readinessChecks: [ReadinessCheck]
    /// The level of the per-request access log line.
    public var accessLogLevel: Logger.Level
    /// Store, providers and engine for the credential and job routes; without them those routes
    /// are not served.
    public var services: RotationServices?
    /// GitHub's secret-scanning keys (`ROTOR_GITHUB_KEYS_FILE`), reloadable; without them
    /// `POST /v1/leaks/github` answers 503.
    public var githubKeys: GitHubKeySource
    /// Where metrics are kept. With a registry, every route records request counts and
    /// latencies into it and `GET /metrics` serves it (with job and outbox gauges read from the
    /// store, when the services' store keeps them); without one, neither.
    public var metrics: PrometheusCollectorRegistry?
    /// Request-rate limits; off unless given (`rotor serve` passes its `ROTOR_*` settings).
    public var rateLimits: APIRateLimits

    /// Creates a configuration.
    public init(
        authenticator: any TokenAuthenticator,
        readinessChecks: [ReadinessCheck] = [],
        accessLogLevel: Logger.Level = .info,
        services: RotationServices? = nil,
        githubKeys: GitHubKeySet? = nil,
        githubKeySource: GitHubKeySource? = nil,
        metrics: PrometheusCollectorRegistry? = nil,
        rateLimits: APIRateLimits = .unlimited
    ) {
        self.authenticator = authenticator
        self.readinessChecks = readinessChecks
        self.accessLogLevel = accessLogLevel
        self.services = services
        self.githubKeys = githubKeySource ?? GitHubKeySource(githubKeys)
        self.metrics = metrics
        self.rateLimits = rateLimits
    }
}

/// Builds Rotor's HTTP application: the one function `rotor serve` and the tests share.
public enum RotorApplication {
    /// The router with every route and middleware, frozen.
    public static func buildResponder(configuration: APIConfiguration) -> RouterResponder {
        let router = Router()
        router.use(RequestIDMiddleware())
        router.use(AccessLogMiddleware(level: configuration.accessLogLevel))
        router.use(ErrorMiddleware())

        HealthRoutes.register(on: router, checks: configuration.readinessChecks)
        SpecRoutes.register(on: router)
        if let registry = configuration.metrics {
            let factory = RotorMetrics.factory(registry: registry)
            router.instrument(with: HTTPMetrics(factory: factory))
            let gauges = configuration.services.map { StoreGauges(store: $0.store, factory: factory) }
            MetricsRoutes.register(on: router, registry: registry, gauges: gauges)
        }

        let authenticated = router.group(
            "/v1", middleware: BearerAuthMiddleware(authenticator: configuration.authenticator, failureLimit: configuration.rateLimits.failedAuth))
        // Limited per principal, so inside authentication: an invalid token never gets a bucket.
        let limited = configuration.rateLimits.perTokenMiddleware().map { authenticated.group("", middleware: $0) } ?? authenticated
        let v1 = ScopedRoutes(group: limited, prefix: "/v1")
        let signed = configuration.rateLimits.signedMiddleware().reduce(router.group("")) { $0.group("", middleware: $1) }
        IdentityRoutes.register(on: v1)
        if let services = configuration.services {
            CredentialRoutes.register(on: v1, services: services)
            ProviderRoutes.register(on: v1, catalog: services.providerCatalog)
            JobRoutes.register(on: v1, services: services)
            SubscriptionRoutes.register(on: v1, services: services)
            TargetRoutes.register(on: v1, services: services)
            SecretRoutes.register(on: v1, services: services)
            AgentRoutes.register(on: v1, services: services)
            TokenRoutes.register(on: v1, services: services, tokens: services.store)
            AuditRoutes.register(on: v1, audit: services.store, clock: services.clock)
            TriggerRoutes.register(on: v1, services: services, triggers: services.store)
            // Authenticated by signature, not bearer token: registered outside the /v1 group.
            HookRoutes.register(on: signed, services: services, triggers: services.store, perTrigger: configuration.rateLimits.perTriggerLimiter())
            LeakRoutes.register(on: signed, services: services, triggers: services.store, keys: configuration.githubKeys)
        }
        return router.buildResponder()
    }
}
