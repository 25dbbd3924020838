import Foundation
import Logging
import PostgresNIO
import RotorPostgres
import Testing

/// A PostgreSQL schema of its own for one test, in the database `ROTOR_TEST_DATABASE_URL` names,
/// so that tests sharing the server never see each other's rows. ``drop()`` removes it with
/// everything in it.
struct TestSchema {
    /// The schema's name: the prefix and 12 random hex digits.
    let name: String
    /// The test database, this schema first on the search path.
    let url: PostgresURL
    /// `ROTOR_TEST_DATABASE_URL` with this schema as its search path, for a `rotor` process's
    /// `ROTOR_DATABASE_URL`.
    let connectionString: String

    private static let logger = Logger(label: "rotor.test-schema", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Creates a schema named `prefix` and random digits.
    static func create(_ prefix: String) async throws -> TestSchema {
        let raw = try #require(ProcessInfo.processInfo.environment["ROTOR_TEST_DATABASE_URL"])
        var url = try #require(MultiInstanceDatabase.url)
        let name = prefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(12)
        try await self.admin("CREATE SCHEMA \(name)")
        url.searchPath = name
        return TestSchema(name: name, url: url, connectionString: raw + (raw.contains("?") ? "&" : "?") + "search_path=\(name)")
    }

    /// Drops the schema and everything in it.
    func drop() async throws {
        try await Self.admin("DROP SCHEMA \(self.name) CASCADE")
    }

    /// Every row of every table in the schema as PostgreSQL prints a row (bytea as hex), one a
    /// line: what a search for a plaintext that must not be stored looks through.
    func allRowsAsText() async throws -> String {
        var text = ""
        try await Self.withAdminConnection { connection in
            var tables: [String] = []
            let names = try await connection.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = \(self.name)", logger: Self.logger)
            for try await table in names.decode(String.self) { tables.append(table) }
            for table in tables {
                let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT t::text FROM \(self.name).\"\(table)\" t"), logger: Self.logger)
                for try await row in rows.decode(String.self) { text += row + "\n" }
            }
        }
        return text
    }

    /// Runs `sql` on a connection of its own to the test database.
    static func admin(_ sql: String) async throws {
        try await self.withAdminConnection { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: self.logger)
        }
    }

    /// Runs `body` with a connection of its own to the test database, closed afterwards.
    static func withAdminConnection(_ body: (PostgresConnection) async throws -> Void) async throws {
        let url = try #require(MultiInstanceDatabase.url)
        let connection = try await PostgresConnection.connect(
            configuration: .init(host: url.host, port: url.port, username: url.username, password: url.password, database: url.database, tls: .disable),
            id: 1, logger: self.logger)
        do {
            try await body(connection)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }
}
