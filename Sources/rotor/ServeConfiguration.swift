import Foundation
import Logging
import RotorAPI
import RotorCore
import RotorCrypto
import RotorHTTP
import RotorPostgres
import RotorProviders
import RotorAssembly

/// The flags of `rotor serve`, which override the environment.
struct ServeFlags {
    var listen: String?
    var dataDir: String?
    var dev = false
}

/// Everything `rotor serve` runs with, resolved and checked before anything starts.
struct ServeConfiguration {
    var http: HTTPServerConfiguration
    var dataDirectory: String
    var adminToken: String
    var keyring: Keyring
    var logLevel: Logger.Level
    /// `ROTOR_LOG_FORMAT`: `text` (default) or `json`.
    var logFormat: LogFormat = .text
    /// NIO event-loop threads; nil for NIO's default of one per core.
    var eventLoops: Int?
    /// Vultr's API base URL (`ROTOR_VULTR_BASE_URL`); never taken from a request.
    var vultrBaseURL: String
    /// Provider definitions from `ROTOR_PROVIDERS_DIR` (docs/providers.md), beside the built-in ones.
    var providerDefinitions: [ProviderDefinition] = []
    /// Backoff and attempts per step (`ROTOR_RETRY_BASE`, `ROTOR_RETRY_MAX`, `ROTOR_STEP_ATTEMPTS`).
    var retry: RetryPolicy
    /// `ROTOR_MAX_CONCURRENT_JOBS`.
    var maxConcurrentJobs: Int
    /// GitHub's secret-scanning public keys from `ROTOR_GITHUB_KEYS_FILE`; nil when unset, and
    /// then `POST /v1/leaks/github` answers 503.
    var githubKeys: GitHubKeySet? = nil
    /// Where they were read from, to read again on SIGHUP or a change.
    var githubKeysPath: String? = nil
    /// Subscription delivery backoff (`ROTOR_OUTBOX_RETRY_BASE`, `ROTOR_OUTBOX_RETRY_MAX`).
    var outboxRetry: RetryPolicy
    /// `ROTOR_LEASE_DURATION`: how long a job's lease lasts unless renewed, so how soon another
    /// instance takes over the jobs of one that died.
    var leaseDuration: Duration = .seconds(30)
    /// `ROTOR_PROVIDER_TIMEOUT`: how long one provider call may take; a create cut off by a crash
    /// is waited out this long before its orphan is looked for.
    var providerTimeout: Duration = .seconds(10)
    /// `ROTOR_DATABASE_URL`: the PostgreSQL store; nil for SQLite in the data directory.
    var databaseURL: PostgresURL?
    /// Request-rate limits (`ROTOR_RATE_LIMIT_*`, `ROTOR_HOOK_RATE_LIMIT_*`).
    var rateLimits: APIRateLimits = .defaults
    /// `ROTOR_MAX_WAITS_PER_TOKEN`: concurrent `?wait=` requests one token may hold.
    var maxWaitsPerToken = WaitLimits.defaultPerToken
    /// `ROTOR_MIN_SCHEDULE_PERIOD`: the shortest schedule accepted (default PT1H).
    var minimumSchedulePeriod: TimeInterval = 3_600
    /// `ROTOR_OUTBOUND_ALLOW`: what targets, verify URLs and subscriptions may reach beyond
    /// public addresses (default: nothing more).
    var outboundPolicy = OutboundPolicy()
    /// `ROTOR_RETENTION`: how long delivered and failed outbox rows, hook deliveries and target
    /// delivery logs are kept (default 30 days). The audit log is kept for good.
    var retention = RetentionPolicy()
    /// `ROTOR_AUDIT_CHECKPOINT_INTERVAL`: how often a checkpoint of the audit log's head is
    /// signed and published (default PT1H).
    var auditCheckpointInterval: TimeInterval = 3_600
    /// `ROTOR_AGENT_LIVENESS`: how recently an agent instance must have been heard from to count
    /// as live (default PT2M).
    var agentLiveness: TimeInterval = 120
    /// `ROTOR_AGENT_VERIFY_TIMEOUT`: how long `verify` waits for agent acknowledgements when a
    /// target sets no `verify_timeout` (default PT5M).
    var agentVerifyTimeout: TimeInterval = 300
    /// `ROTOR_ALLOW_PLAINTEXT=1`: plain HTTP on a non-loopback address is the operator's choice
    /// (a TLS-terminating proxy or a private network carries the traffic).
    var allowPlaintext = false
    /// Whether the listen address is loopback, so only this machine can connect.
    var isLoopbackListen: Bool { ListenAddress(host: self.http.host, port: self.http.port).isLoopback }
    /// Lines for the operator (what --dev created, where the token is). Never logged.
    var notices: [String] = []

    /// Resolves the configuration, creating the data directory (mode 0700) and, with `--dev`,
    /// the development keyring and admin token. Every missing or invalid setting is reported at
    /// once, with what to set.
    static func resolve(flags: ServeFlags, environment: [String: String]) throws(ConfigurationError) -> ServeConfiguration {
        var problems: [String] = []
        // Secret settings are read once, from the environment or their `_FILE`; one that cannot
        // be read is reported here, and not again as "not set" by what would have used it.
        var secrets: [String: String] = [:]
        var unreadableSecrets: Set<String> = []
        for name in SecretSetting.names {
            do {
                secrets[name] = try SecretSetting.value(name, in: environment)
            } catch {
                unreadableSecrets.insert(name)
                problems.append(error.description)
            }
        }
        func value(_ name: String) -> String? {
            SecretSetting.names.contains(name) ? secrets[name] : environment[name].flatMap { $0.isEmpty ? nil : $0 }
        }

        let listenText = flags.listen ?? value("ROTOR_LISTEN") ?? "127.0.0.1:8080"
        let listen = ListenAddress(listenText)
        if listen == nil {
            problems.append("ROTOR_LISTEN / --listen '\(listenText)' is not host:port (e.g. 127.0.0.1:8080 or [::1]:8080)")
        }

        let logLevelText = value("ROTOR_LOG_LEVEL") ?? "info"
        let logLevel = Logger.Level(rawValue: logLevelText.lowercased())
        if logLevel == nil {
            problems.append("ROTOR_LOG_LEVEL '\(logLevelText)' is not one of trace, debug, info, notice, warning, error, critical")
        }

        let logFormatText = value("ROTOR_LOG_FORMAT") ?? "text"
        let logFormat = LogFormat(rawValue: logFormatText.lowercased())
        if logFormat == nil {
            problems.append("ROTOR_LOG_FORMAT '\(logFormatText)' is not one of text, json")
        }

        var eventLoops: Int?
        if let text = value("ROTOR_EVENT_LOOPS") {
            eventLoops = Int(text).flatMap { (1...256).contains($0) ? $0 : nil }
            if eventLoops == nil {
                problems.append("ROTOR_EVENT_LOOPS '\(text)' is not a whole number from 1 to 256")
            }
        }

        let vultrBaseURL = value("ROTOR_VULTR_BASE_URL") ?? "https://api.vultr.com"
        if URLComponents(string: vultrBaseURL).map({ ["http", "https"].contains($0.scheme ?? "") && $0.host?.isEmpty == false }) != true {
            problems.append("ROTOR_VULTR_BASE_URL '\(vultrBaseURL)' is not an http(s) URL")
        }
        var providerDefinitions: [ProviderDefinition] = []
        if let directory = value("ROTOR_PROVIDERS_DIR") {
            do {
                providerDefinitions = try ProviderDefinitions.load(directory: URL(fileURLWithPath: directory))
            } catch {
                problems.append("ROTOR_PROVIDERS_DIR: \(error.description)")
            }
        }
        func duration(_ name: String, default fallback: String) -> Duration? {
            let text = value(name) ?? fallback
            guard let parsed = try? ISODuration(parsing: text), let seconds = parsed.fixedSeconds, seconds > 0 else {
                problems.append("\(name) '\(text)' is not a positive ISO 8601 duration such as PT1S or PT5M")
                return nil
            }
            return .milliseconds(Int64(seconds * 1000))
        }
        func count(_ name: String, default fallback: Int, range: ClosedRange<Int>) -> Int {
            guard let text = value(name) else { return fallback }
            guard let number = Int(text), range.contains(number) else {
                problems.append("\(name) '\(text)' is not a whole number from \(range.lowerBound) to \(range.upperBound)")
                return fallback
            }
            return number
        }
        let retryBase = duration("ROTOR_RETRY_BASE", default: "PT1S")
        let retryMax = duration("ROTOR_RETRY_MAX", default: "PT5M")
        let attempts = count("ROTOR_STEP_ATTEMPTS", default: 8, range: 1...100)
        let maxConcurrentJobs = count("ROTOR_MAX_CONCURRENT_JOBS", default: 64, range: 1...10_000)
        let outboxRetryBase = duration("ROTOR_OUTBOX_RETRY_BASE", default: "PT5S")
        let outboxRetryMax = duration("ROTOR_OUTBOX_RETRY_MAX", default: "PT1H")
        let leaseDuration = duration("ROTOR_LEASE_DURATION", default: "PT30S")
        let maxConnections = count("ROTOR_MAX_CONNECTIONS", default: 16_384, range: 1...1_000_000)
        let maxRequestsInFlight = count("ROTOR_MAX_REQUESTS_IN_FLIGHT", default: 512, range: 1...100_000)
        // PT0S refuses a request over the in-flight cap at once.
        var admissionWait = Duration.seconds(1)
        if let text = value("ROTOR_ADMISSION_WAIT") {
            if let parsed = try? ISODuration(parsing: text), let seconds = parsed.fixedSeconds, (0...60).contains(seconds) {
                admissionWait = .milliseconds(Int64(seconds * 1000))
            } else {
                problems.append("ROTOR_ADMISSION_WAIT '\(text)' is not an ISO 8601 duration from PT0S to PT60S")
            }
        }
        let maxWaitsPerToken = count("ROTOR_MAX_WAITS_PER_TOKEN", default: WaitLimits.defaultPerToken, range: 1...1_000_000)
        let retentionAge = duration("ROTOR_RETENTION", default: "P30D")
        let minimumSchedule = duration("ROTOR_MIN_SCHEDULE_PERIOD", default: "PT1H")
        let providerTimeout = duration("ROTOR_PROVIDER_TIMEOUT", default: "PT10S")
        let auditCheckpointInterval = duration("ROTOR_AUDIT_CHECKPOINT_INTERVAL", default: "PT1H")
        let agentLiveness = duration("ROTOR_AGENT_LIVENESS", default: "PT2M")
        let agentVerifyTimeout = duration("ROTOR_AGENT_VERIFY_TIMEOUT", default: "PT5M")

        var databaseURL: PostgresURL?
        if let text = value("ROTOR_DATABASE_URL") {
            do {
                databaseURL = try PostgresURL(parsing: text)
                // Reads sslrootcert now, so a missing CA file is a start-up error.
                _ = try databaseURL?.makeTLSConfiguration()
            } catch {
                // The error names the part that is wrong, never the password.
                problems.append("ROTOR_DATABASE_URL: \(error)")
            }
        }

        // A rate of 0 turns a limit off; the burst is how many requests may come at once.
        func rateLimit(_ prefix: String, default fallback: RateLimiter.Limit) -> RateLimiter.Limit? {
            let rateName = prefix + "_RPS"
            var rate = fallback.rate
            if let text = value(rateName) {
                guard let number = Double(text), number.isFinite, (0...1_000_000).contains(number) else {
                    problems.append("\(rateName) '\(text)' is not a number of requests per second from 0 (off) to 1000000")
                    return nil
                }
                rate = number
            }
            let burst = count(prefix + "_BURST", default: fallback.burst, range: 1...1_000_000)
            return rate > 0 ? RateLimiter.Limit(rate: rate, burst: burst) : nil
        }
        let defaults = APIRateLimits.defaults
        let rateLimits = APIRateLimits(
            perToken: defaults.perToken.flatMap { rateLimit("ROTOR_RATE_LIMIT", default: $0) },
            signed: defaults.signed.flatMap { rateLimit("ROTOR_HOOK_RATE_LIMIT", default: $0) },
            failedAuth: defaults.failedAuth.flatMap { rateLimit("ROTOR_AUTH_FAILURE_LIMIT", default: $0) }
        )

        var outboundPolicy = OutboundPolicy()
        if let text = value("ROTOR_OUTBOUND_ALLOW") {
            do {
                outboundPolicy = try OutboundPolicy(parsing: text)
            } catch {
                problems.append("ROTOR_OUTBOUND_ALLOW: \(error)")
            }
        }
        // TLS on the listener: both files or neither. A pair that does not load is named file
        // by file, never quoted.
        var tls: ServerTLS?
        let certificateFile = value("ROTOR_TLS_CERT_FILE")
        let keyFile = value("ROTOR_TLS_KEY_FILE")
        switch (certificateFile, keyFile) {
        case (let certificateFile?, let keyFile?):
            do {
                tls = try ServerTLS(certificateFile: certificateFile, keyFile: keyFile)
            } catch {
                for problem in error.problems {
                    let name = problem.file == .certificate ? "ROTOR_TLS_CERT_FILE" : "ROTOR_TLS_KEY_FILE"
                    problems.append("\(name) '\(problem.path)' \(problem.reason)")
                }
            }
        case (nil, nil):
            break
        case (.some, nil):
            problems.append("ROTOR_TLS_CERT_FILE is set but ROTOR_TLS_KEY_FILE is not: set both (PEM files), or neither")
        case (nil, .some):
            problems.append("ROTOR_TLS_KEY_FILE is set but ROTOR_TLS_CERT_FILE is not: set both (PEM files), or neither")
        }
        var allowPlaintext = false
        if let text = value("ROTOR_ALLOW_PLAINTEXT") {
            switch text.lowercased() {
            case "1", "true", "yes": allowPlaintext = true
            case "0", "false", "no": allowPlaintext = false
            default: problems.append("ROTOR_ALLOW_PLAINTEXT '\(text)' is not 1 or 0")
            }
        }
        // Bearer tokens and `GET …/secret` answers must not cross a network in clear by default.
        if let listen, !listen.isLoopback, certificateFile == nil, keyFile == nil, !allowPlaintext {
            problems.append(
                "ROTOR_LISTEN / --listen '\(listen)' is not a loopback address and TLS is off, so bearer tokens and keys would cross the network in clear: "
                    + "set ROTOR_TLS_CERT_FILE and ROTOR_TLS_KEY_FILE (PEM), or ROTOR_ALLOW_PLAINTEXT=1 if a TLS-terminating proxy "
                    + "or a private network carries the traffic")
        }

        var githubKeys: GitHubKeySet?
        if let path = value("ROTOR_GITHUB_KEYS_FILE") {
            do {
                githubKeys = try GitHubKeySet.load(fromFile: path)
            } catch {
                problems.append("ROTOR_GITHUB_KEYS_FILE '\(path)': \(error) (save https://api.github.com/meta/public_keys/secret_scanning there)")
            }
        }

        let dataDirectory = flags.dataDir ?? value("ROTOR_DATA_DIR") ?? "./data"
        do {
            try DataDirectory.prepare(dataDirectory)
        } catch {
            problems.append("ROTOR_DATA_DIR '\(dataDirectory)': \(error)")
            throw ConfigurationError(problems: problems)
        }

        var notices: [String] = []
        let adminToken =
            unreadableSecrets.contains("ROTOR_ADMIN_TOKEN")
            ? nil : Self.adminToken(value("ROTOR_ADMIN_TOKEN"), flags: flags, dataDirectory: dataDirectory, problems: &problems, notices: &notices)
        let keyring =
            unreadableSecrets.contains("ROTOR_MASTER_KEY")
            ? nil : Self.keyring(environment: value, flags: flags, dataDirectory: dataDirectory, problems: &problems, notices: &notices)
        guard problems.isEmpty, let listen, let logLevel, let logFormat, let adminToken, let keyring, let retryBase, let retryMax,
            let outboxRetryBase, let outboxRetryMax, let leaseDuration, let retentionAge, let providerTimeout, let minimumSchedule,
            let auditCheckpointInterval, let agentLiveness, let agentVerifyTimeout
        else {
            throw ConfigurationError(problems: problems)
        }
        return ServeConfiguration(
            http: HTTPServerConfiguration(
                host: listen.host, port: listen.port, maxConnections: maxConnections, maxRequestsInFlight: maxRequestsInFlight,
                admissionWait: admissionWait, tls: tls),
            dataDirectory: dataDirectory,
            adminToken: adminToken,
            keyring: keyring,
            logLevel: logLevel,
            logFormat: logFormat,
            eventLoops: eventLoops,
            vultrBaseURL: vultrBaseURL,
            providerDefinitions: providerDefinitions,
            retry: RetryPolicy(base: retryBase, maximum: retryMax, attemptsPerStep: attempts),
            maxConcurrentJobs: maxConcurrentJobs,
            githubKeys: githubKeys,
            githubKeysPath: githubKeys == nil ? nil : value("ROTOR_GITHUB_KEYS_FILE"),
            outboxRetry: RetryPolicy(base: outboxRetryBase, maximum: outboxRetryMax, attemptsPerStep: .max),
            leaseDuration: leaseDuration,
            providerTimeout: providerTimeout,
            databaseURL: databaseURL,
            rateLimits: rateLimits,
            maxWaitsPerToken: maxWaitsPerToken,
            minimumSchedulePeriod: Double(minimumSchedule.components.seconds) + Double(minimumSchedule.components.attoseconds) / 1e18,
            outboundPolicy: outboundPolicy,
            retention: RetentionPolicy(age: Double(retentionAge.components.seconds) + Double(retentionAge.components.attoseconds) / 1e18),
            auditCheckpointInterval: Double(auditCheckpointInterval.components.seconds) + Double(auditCheckpointInterval.components.attoseconds) / 1e18,
            agentLiveness: Self.seconds(agentLiveness),
            agentVerifyTimeout: Self.seconds(agentVerifyTimeout),
            allowPlaintext: allowPlaintext,
            notices: notices
        )
    }

    private static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private static func adminToken(
        _ configured: String?,
        flags: ServeFlags,
        dataDirectory: String,
        problems: inout [String],
        notices: inout [String]
    ) -> String? {
        if let configured {
            guard AdminToken.isAcceptable(configured) else {
                let bits = Int(AdminToken.estimatedBits(configured))
                problems.append(
                    "ROTOR_ADMIN_TOKEN must be at least 16 characters of A-Z a-z 0-9 - . _ ~ + / with at least 128 bits of entropy "
                        + "(this one has about \(bits)); generate one with: openssl rand -hex 32")
                return nil
            }
            return configured
        }
        guard flags.dev else {
            problems.append("ROTOR_ADMIN_TOKEN is not set: set it to the bootstrap admin's bearer token, at least 16 characters (generate one with: openssl rand -hex 32)")
            return nil
        }
        do {
            let path = DataDirectory.path(dataDirectory, "admin-token")
            let (token, created) = try AdminToken.loadOrCreate(at: path)
            notices.append("rotor serve --dev: \(created ? "created" : "using") admin token in \(path)")
            notices.append("rotor serve --dev: admin token: \(token)")
            return token
        } catch {
            problems.append("--dev could not prepare the admin token: \(error)")
            return nil
        }
    }

    private static func keyring(
        environment value: (String) -> String?,
        flags: ServeFlags,
        dataDirectory: String,
        problems: inout [String],
        notices: inout [String]
    ) -> Keyring? {
        switch (value("ROTOR_KEYRING_FILE"), value("ROTOR_MASTER_KEY")) {
        case (.some, .some):
            problems.append("ROTOR_KEYRING_FILE and ROTOR_MASTER_KEY are both set: set only one")
            return nil
        case (.some(let path), nil):
            do {
                return try Keyring.load(fromFile: path)
            } catch {
                problems.append("ROTOR_KEYRING_FILE: \(error)")
                return nil
            }
        case (nil, .some(let base64)):
            do {
                return try Keyring(masterKeyBase64: base64)
            } catch {
                problems.append("ROTOR_MASTER_KEY: \(error)")
                return nil
            }
        case (nil, nil):
            guard flags.dev else {
                problems.append(
                    "no keyring: set ROTOR_MASTER_KEY to base64 of 32 random bytes (openssl rand -base64 32) or ROTOR_KEYRING_FILE to a keyring JSON file with mode 0600"
                )
                return nil
            }
            let path = DataDirectory.path(dataDirectory, "keyring.json")
            do {
                if FileManager.default.fileExists(atPath: path) {
                    return try Keyring.load(fromFile: path)
                }
                let keyring = Keyring.generate()
                try keyring.write(toFile: path)
                notices.append("rotor serve --dev: created keyring \(path) (key-encryption key \(keyring.activeKeyID)); back it up with the data directory")
                return keyring
            } catch {
                problems.append("--dev could not prepare the keyring \(path): \(error)")
                return nil
            }
        }
    }
}

/// Why `rotor serve` refused to start: every problem found, each saying what to set.
struct ConfigurationError: Error, CustomStringConvertible {
    var problems: [String]

    var description: String {
        "refusing to start:\n" + self.problems.map { "  - \($0)" }.joined(separator: "\n")
            + "\nFor local use, `rotor serve --dev` generates an admin token and a keyring under the data directory."
    }
}
