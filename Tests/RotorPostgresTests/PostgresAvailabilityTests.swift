import PostgresNIO
import RotorStoreConformance
import Testing

/// Makes it visible when the PostgreSQL half of the suite did not run.
@Suite struct PostgresAvailabilityTests {
    @Test(
        "the store suite also runs against PostgreSQL (set ROTOR_TEST_DATABASE_URL; .ci/run does)",
        .enabled(if: PostgresTestDatabase.url != nil, "ROTOR_TEST_DATABASE_URL is not set: the PostgreSQL store was NOT tested"))
    func postgresIsConfigured() async throws {
        let version = try await PostgresTestDatabase.withConnection { connection in
            var version = ""
            for try await text in try await connection.query("SHOW server_version", logger: PostgresTestDatabase.logger).decode(String.self) {
                version = text
            }
            return version
        }
        #expect(!version.isEmpty)
    }
}
