// swift-tools-version: 6.2
import PackageDescription

/// One set of compiler settings for every target (STYLE.md rule 1).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Rotor",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "rotor", targets: ["rotor"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // Already in the graph through postgres-nio; named for its TLS configuration type.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Provider definitions are YAML files (docs/providers.md).
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // Already in the graph through swift-nio; named for its heap (the long-polls' deadlines).
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    ],
    targets: [
        // Debian's libssl-dev; RotorCrypto is the only target that imports it.
        .systemLibrary(
            name: "COpenSSL",
            path: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(
            name: "RotorCrypto",
            dependencies: ["COpenSSL"],
            swiftSettings: swiftSettings
        ),
        // The domain: pure Swift, no NIO, HTTP or SQL.
        .target(
            name: "RotorCore",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RotorHTTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RotorAPI",
            dependencies: [
                "RotorHTTP",
                "RotorCrypto",
                "RotorCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["EmbedOpenAPI"]
        ),
        // Builds openapi.yaml into RotorAPI as Swift source (the spec is served without a resource
        // bundle; only the YAML is committed).
        .plugin(name: "EmbedOpenAPI", capability: .buildTool(), dependencies: ["embed-openapi"]),
        .executableTarget(name: "embed-openapi", swiftSettings: swiftSettings),
        // Actors that run jobs: claiming, the per-job step machine, retries.
        .target(
            name: "RotorEngine",
            dependencies: [
                "RotorCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Persistence behind RotorCore's Store: SQLite through GRDB (PostgreSQL to follow).
        // What both store drivers share: row mapping and column lists, the envelope field names,
        // the audit chain's format and verification, the rewrap plan. The drivers hold SQL,
        // transactions and connections only.
        .target(
            name: "RotorStorage",
            dependencies: ["RotorCore", "RotorCrypto"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RotorSQLite",
            dependencies: [
                "RotorCore",
                "RotorCrypto",
                "RotorStorage",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // Persistence behind the same protocols on PostgreSQL (postgres-nio), for several instances
        // sharing one database: leases with FOR UPDATE SKIP LOCKED, wake-ups with LISTEN/NOTIFY.
        .target(
            name: "RotorPostgres",
            dependencies: [
                "RotorCore",
                "RotorCrypto",
                "RotorStorage",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Provider adapters on AsyncHTTPClient: native Vultr, and providers declared as data (YAML
        // definitions run by one generic engine).
        .target(
            name: "RotorProviders",
            dependencies: [
                "RotorCore",
                "RotorCrypto",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // An in-process fake of the Vultr API keys endpoints (DESIGN.md §1, vultr-api.md).
        .target(
            name: "FakeVultr",
            dependencies: [
                "RotorHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // In-process fakes of the provider APIs whose definitions ship in providers/ (Linode,
        // SendGrid, Scaleway): one key store, fault table and rate limit, one shape per provider.
        .target(
            name: "FakeProviders",
            dependencies: [
                "RotorHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Rotor's parts wired together: the one assembly `serve`, `demo`, the sandbox and the
        // benchmarks build from.
        .target(
            name: "RotorAssembly",
            dependencies: [
                "RotorAPI",
                "RotorHTTP",
                "RotorCrypto",
                "RotorCore",
                "RotorEngine",
                "RotorSQLite",
                "RotorPostgres",
                "RotorProviders",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // `rotor agent`: fetches a credential's key from Rotor, writes it for a workload, reloads
        // and checks the workload, and acknowledges (docs/agents.md). A client only: no server parts.
        .target(
            name: "RotorAgent",
            dependencies: [
                "RotorCore",
                "RotorClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Rotor's API client, for the operator commands (`rotor credentials`, `rotor rotate`, …) and
        // `rotor agent`: typed requests for the operations they call (docs/cli.md says why not a
        // generated client). No server parts.
        .target(
            name: "RotorClient",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "rotor",
            dependencies: [
                "RotorAssembly",
                "RotorClient",
                "RotorAgent",
                "RotorAPI",
                "RotorHTTP",
                "RotorCrypto",
                "RotorCore",
                "RotorEngine",
                "RotorSQLite",
                "RotorPostgres",
                "RotorProviders",
                "FakeVultr",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // The benchmarks behind scripts/bench-*.sh, out of the product binary.
        .executableTarget(
            name: "rotor-bench",
            dependencies: [
                "RotorAgent",
                "RotorAssembly",
                "RotorCore",
                "RotorCrypto",
                "RotorEngine",
                "RotorHTTP",
                "RotorPostgres",
                "RotorProviders",
                "RotorSQLite",
                "FakeVultr",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RotorAgentTests",
            dependencies: [
                "RotorAgent",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RotorCryptoTests",
            dependencies: ["RotorCrypto", "ChildProcess"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RotorCoreTests",
            dependencies: ["RotorCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RotorHTTPTests",
            dependencies: [
                "RotorHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RotorAPITests",
            dependencies: [
                "ChildProcess",
                "RotorAPI",
                "RotorAssembly",
                "RotorHTTP",
                "RotorCore",
                "RotorCrypto",
                "RotorSQLite",
                "RotorEngine",
                "RotorProviders",
                "FakeVultr",
                "FakeProviders",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RotorEngineTests",
            dependencies: [
                "ChildProcess",
                "RotorEngine",
                "RotorAssembly",
                "RotorCore",
                "RotorSQLite",
                "RotorStorage",
                "RotorProviders",
                "RotorCrypto",
                "RotorHTTP",
                "FakeVultr",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // The store suite every driver passes, and its fixtures: a library only test targets use
        // (RotorSQLiteTests and RotorPostgresTests run each of its tests on their driver).
        .target(
            name: "RotorStoreConformance",
            dependencies: [
                "RotorSQLite",
                "RotorPostgres",
                "RotorStorage",
                "RotorCore",
                "RotorCrypto",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/RotorStoreConformance",
            swiftSettings: swiftSettings
        ),
        // Support the test targets share: child processes through posix_spawn (see Spawned for why
        // not Foundation's Process), the openssl command line, and Poll.until for waiting on a condition.
        .target(name: "ChildProcess", path: "Tests/ChildProcess", swiftSettings: swiftSettings),
        .testTarget(
            name: "RotorSQLiteTests",
            dependencies: [
                "ChildProcess",
                "RotorStoreConformance",
                "RotorSQLite",
                "RotorStorage",
                "RotorCore",
                "RotorCrypto",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RotorPostgresTests",
            dependencies: [
                "ChildProcess",
                "RotorStoreConformance",
                "RotorPostgres",
                "RotorSQLite",
                "RotorStorage",
                "RotorCore",
                "RotorCrypto",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RotorProvidersTests",
            dependencies: [
                "RotorProviders",
                "RotorCore",
                "RotorCrypto",
                "FakeVultr",
                "FakeProviders",
                "RotorHTTP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FakeVultrTests",
            dependencies: [
                "FakeVultr",
                "RotorHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "rotorTests",
            dependencies: [
                "ChildProcess",
                "rotor",
                "RotorClient",
                "RotorAssembly",
                "FakeVultr",
                "FakeProviders",
                "RotorHTTP",
                "RotorCrypto",
                "RotorCore",
                "RotorEngine",
                "RotorPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
