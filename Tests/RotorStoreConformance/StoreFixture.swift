package import Foundation
import GRDB
package import Logging
package import PostgresNIO
package import RotorCore
package import RotorCrypto
package import RotorPostgres
package import RotorSQLite
package import Testing

/// Everything a store implements (``RotorStore``); the suite runs against each implementation.
package typealias TestedStore = RotorStore

/// The store implementations the suite runs on: `RotorSQLiteTests` runs it on SQLite, and
/// `RotorPostgresTests` on PostgreSQL when `ROTOR_TEST_DATABASE_URL` names a database (`.ci/run`
/// starts one; see docs/development.md). Without it the PostgreSQL tests are skipped
/// (``Testing/Trait/postgresConfigured``) and `PostgresAvailabilityTests` reports itself skipped,
/// so a run without PostgreSQL never looks like one that tested it.
package enum StoreKind: String, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    package var testDescription: String { self.rawValue }

    /// Runs `body` with a fresh, empty store, and disposes of it afterwards.
    package func withStore(keyring: Keyring = .generate(), _ body: (StoreUnderTest) async throws -> Void) async throws {
        let subject: StoreUnderTest
        switch self {
        case .sqlite: subject = try StoreUnderTest(sqlite: await SQLiteFixture.opened(keyring: keyring))
        case .postgres:
            // A few at a time: dozens of schemas migrating at once would starve the rest of the
            // suite (its timing-sensitive tests run in parallel with this one).
            await PostgresTestDatabase.slots.acquire()
            do {
                subject = try await StoreUnderTest.postgres(keyring: keyring)
            } catch {
                await PostgresTestDatabase.slots.release()
                throw error
            }
        }
        do {
            try await body(subject)
        } catch {
            await subject.dispose()
            if self == .postgres { await PostgresTestDatabase.slots.release() }
            throw error
        }
        await subject.dispose()
        if self == .postgres { await PostgresTestDatabase.slots.release() }
    }
}

/// A counting semaphore for async tests.
package actor AsyncSemaphore {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    package init(_ count: Int) {
        self.available = count
    }

    package func acquire() async {
        if self.available > 0 {
            self.available -= 1
            return
        }
        await withCheckedContinuation { self.waiters.append($0) }
    }

    package func release() {
        if self.waiters.isEmpty {
            self.available += 1
        } else {
            self.waiters.removeFirst().resume()
        }
    }
}

/// A fresh store and what a test needs beyond its protocols.
package struct StoreUnderTest: Sendable {
    package var store: any TestedStore
    package var keyring: Keyring
    /// Every byte the store keeps (the SQLite files; PostgreSQL's table contents).
    package var storedBytes: @Sendable () async throws -> [UInt8]
    /// A second store on the same data with another keyring (a restart, another instance).
    package var reopen: @Sendable (Keyring) async throws -> any TestedStore
    package var dispose: @Sendable () async -> Void
    /// Runs SQL on the stored data directly, behind the store's back (tampering, as an attacker
    /// with write access to the database would).
    package var execute: @Sendable (String) async throws -> Void = { _ in Issue.record("this store under test cannot run SQL directly") }

    package init(sqlite fixture: SQLiteFixture) {
        self.store = fixture.store
        self.keyring = fixture.keyring
        let path = fixture.path
        self.storedBytes = {
            let database = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            let wal = (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path + "-wal")))) ?? []
            return database + wal
        }
        self.reopen = { keyring in try await SQLiteStore.connect(path: path, keyring: keyring) }
        let cleanup = fixture.cleanup
        self.dispose = { cleanup() }
        self.execute = { sql in
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in try db.execute(sql: sql) }
            try queue.close()
        }
    }

    package init(
        store: any TestedStore, keyring: Keyring, storedBytes: @escaping @Sendable () async throws -> [UInt8],
        reopen: @escaping @Sendable (Keyring) async throws -> any TestedStore, dispose: @escaping @Sendable () async -> Void
    ) {
        self.store = store
        self.keyring = keyring
        self.storedBytes = storedBytes
        self.reopen = reopen
        self.dispose = dispose
    }

    /// A PostgreSQL store in a schema of its own, dropped afterwards.
    package static func postgres(keyring: Keyring) async throws -> StoreUnderTest {
        let database = try #require(PostgresTestDatabase.url, "ROTOR_TEST_DATABASE_URL is not set")
        let schema = try await PostgresTestDatabase.createSchema()
        var schemaURL = database
        schemaURL.searchPath = schema
        let url = schemaURL
        let store = try await PostgresStore.connect(url: url, keyring: keyring, maximumConnections: 4, logger: PostgresTestDatabase.logger)
        let reopened = Mutex<[PostgresStore]>([])
        var subject = StoreUnderTest(
            store: store,
            keyring: keyring,
            storedBytes: { try await PostgresTestDatabase.dump(schema: schema) },
            reopen: { keyring in
                let other = try await PostgresStore.connect(url: url, keyring: keyring, maximumConnections: 4, logger: PostgresTestDatabase.logger)
                reopened.withLock { $0.append(other) }
                return other
            },
            dispose: {
                for other in reopened.withLock({ $0 }) { other.shutdown() }
                store.shutdown()
                try? await PostgresTestDatabase.dropSchema(schema)
            }
        )
        subject.execute = { sql in
            try await PostgresTestDatabase.withConnection { connection in
                _ = try await connection.query(PostgresQuery(unsafeSQL: "SET search_path TO \(schema)"), logger: PostgresTestDatabase.logger)
                _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: PostgresTestDatabase.logger)
            }
        }
        return subject
    }
}

import Synchronization

/// The test database named by `ROTOR_TEST_DATABASE_URL`, and a schema per test inside it.
package enum PostgresTestDatabase {
    package static let url: PostgresURL? = ProcessInfo.processInfo.environment["ROTOR_TEST_DATABASE_URL"].flatMap { text in
        text.isEmpty ? nil : try? PostgresURL(parsing: text)
    }

    package static let logger = Logger(label: "rotor.store-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    /// How many PostgreSQL-backed store tests run at once.
    package static let slots = AsyncSemaphore(4)

    /// One connection outside any store, for creating and dropping schemas and reading raw rows.
    package static func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let url = try #require(self.url)
        let configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password, database: url.database,
            tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: self.logger)
        do {
            let value = try await body(connection)
            try await connection.close()
            return value
        } catch {
            try? await connection.close()
            throw error
        }
    }

    package static func createSchema() async throws -> String {
        let name = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        try await self.withConnection { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(name)"), logger: self.logger)
        }
        return name
    }

    package static func dropSchema(_ name: String) async throws {
        try await self.withConnection { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \(name) CASCADE"), logger: self.logger)
        }
    }

    /// Every value in every table of `schema`: text columns as UTF-8, bytea columns raw.
    package static func dump(schema: String) async throws -> [UInt8] {
        try await self.withConnection { connection in
            var bytes: [UInt8] = []
            let columns = try await connection.query(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = \(schema) ORDER BY table_name, ordinal_position",
                logger: self.logger)
            var pairs: [(String, String)] = []
            for try await (table, column) in columns.decode((String, String).self) { pairs.append((table, column)) }
            for (table, column) in pairs {
                // ::bytea of text gives its UTF-8; bytea stays as it is; other types as their text.
                let rows = try await connection.query(
                    PostgresQuery(unsafeSQL: "SELECT convert_to(\"\(column)\"::text, 'UTF8') AS value FROM \(schema).\"\(table)\" WHERE \"\(column)\" IS NOT NULL"),
                    logger: self.logger)
                for try await value in rows.decode(ByteBuffer.self) { bytes += value.readableBytesView }
                let raw = try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            SELECT "\(column)" AS value FROM \(schema)."\(table)"
                            WHERE pg_typeof("\(column)") = 'bytea'::regtype AND "\(column)" IS NOT NULL
                            """),
                    logger: self.logger)
                for try await value in raw.decode(ByteBuffer.self) { bytes += value.readableBytesView }
            }
            return bytes
        }
    }
}

/// A SQLite store in its own temporary directory.
package struct SQLiteFixture {
    package var store: SQLiteStore
    package var path: String
    package var directory: URL
    package var keyring: Keyring

    /// A fixture in a new temporary directory, its store opened on a thread of its own
    /// (``SQLiteStore/connect(path:keyring:)``): the suite opens dozens at once.
    package static func opened(keyring: Keyring = .generate()) async throws -> SQLiteFixture {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("rotor.sqlite").path
        let store = try await SQLiteStore.connect(path: path, keyring: keyring)
        return SQLiteFixture(store: store, path: path, directory: directory, keyring: keyring)
    }

    package var cleanup: @Sendable () -> Void {
        let directory = self.directory
        return { try? FileManager.default.removeItem(at: directory) }
    }
}

/// Sample values. Times have sub-microsecond fractions on purpose: the store must give back
/// exactly the `Date` it was given.
package enum Sample {
    package static let t0 = Date(timeIntervalSinceReferenceDate: 820_000_000.123_456_789)

    package static func key(_ id: String, at date: Date = t0) -> KeyInfo {
        KeyInfo(providerKeyID: id, fingerprint: "sha256:\(SHA256.hexDigest(id).prefix(12))", createdAt: date, expiresAt: date.addingTimeInterval(86_400 * 90))
    }

    package static func credential(name: String = "cred-\(UUID().uuidString.prefix(8))", targets: Int = 1, at date: Date = t0) -> Credential {
        Credential(
            id: .generate(),
            name: name,
            provider: .vultr,
            // A key of its own: a store refuses a second credential holding the same key.
            current: key("key-current-\(UUID().uuidString.prefix(8))", at: date),
            targets: (0..<targets).map { index in
                Target(id: .generate(), url: "https://consumer\(index).example/hook", verifyURL: index == 0 ? "https://consumer0.example/ok" : nil)
            },
            labels: ["team": "payments"],
            createdAt: date,
            updatedAt: date
        )
    }

    /// The current key's plaintext ``secrets(for:current:)`` stores by default: one per credential.
    package static func currentSecret(of credential: Credential) -> Secret {
        Secret("current-secret-\(credential.id.rawValue)")
    }

    package static func secrets(for credential: Credential, current: String? = nil) -> CredentialSecrets {
        CredentialSecrets(
            current: current.map(Secret.init) ?? currentSecret(of: credential),
            signingSecrets: Dictionary(uniqueKeysWithValues: credential.targets.map { ($0.id, Secret("whsec_\($0.id.rawValue)")) })
        )
    }

    package static func job(for credential: Credential, at date: Date = t0) -> NewJob {
        NewJob(
            credentialID: credential.id,
            trigger: Trigger(kind: .api, source: "tok_test"),
            reason: "scheduled test",
            gracePeriod: ISODuration(seconds: 300),
            at: date
        )
    }

    package static func event(_ type: String, at date: Date = t0, step: JobStep? = nil) -> JobEvent {
        JobEvent(at: date, type: type, step: step, message: "\(type) happened")
    }
}

extension Store {
    /// Stores a sample credential with its secrets.
    package func addCredential(name: String = "cred-\(UUID().uuidString.prefix(8))", targets: Int = 1) async throws -> Credential {
        let credential = Sample.credential(name: name, targets: targets)
        try await self.createCredential(credential, secrets: Sample.secrets(for: credential))
        return credential
    }

    /// Stores a queued job for `credential` and returns it as stored.
    package func addJob(for credential: Credential, at date: Date = Sample.t0, events: [JobEvent] = []) async throws -> Job {
        switch try await self.createJob(Sample.job(for: credential, at: date), idempotencyKey: nil, requestFingerprint: nil, events: events) {
        case .created(let job): return job
        case .replayed: throw StoreError(.conflict, message: "unexpected replay")
        }
    }
}

extension Trait where Self == ConditionTrait {
    /// Skips a PostgreSQL test, saying so, when `ROTOR_TEST_DATABASE_URL` is not set.
    package static var postgresConfigured: Self {
        .enabled(if: PostgresTestDatabase.url != nil, "ROTOR_TEST_DATABASE_URL is not set: the PostgreSQL store was NOT tested")
    }
}
