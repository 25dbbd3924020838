import Foundation
import Logging
import NIOCore
import PostgresNIO
import RotorCore
import RotorStorage

/// A statement being built with `$n` parameters, for SQL whose shape depends on the call
/// (column lists, optional conditions). Fixed statements use `PostgresQuery` interpolation.
///
/// A class, so that `sql.append("... \(sql.bind(value))")` binds and appends to one statement
/// without overlapping mutable accesses; each lives within one store call.
final class SQL {
    private(set) var text: String
    private(set) var binds = PostgresBindings()

    init(_ text: String = "") {
        self.text = text
    }

    /// Appends literal SQL.
    func append(_ text: String) {
        self.text += text
    }

    /// Binds `value` and returns its placeholder.
    func bind(_ value: StoredValue) -> String {
        self.binds.append(value)
        return "$\(self.binds.count)"
    }

    /// Binds each value and returns the placeholders, comma-separated.
    func bind(_ values: [StoredValue]) -> String {
        values.map { self.bind($0) }.joined(separator: ", ")
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: self.text, binds: self.binds) }
}

/// Postgres error codes the store reacts to (SQLSTATE).
enum SQLState {
    static let uniqueViolation = "23505"
    static let serializationFailure = "40001"
    static let deadlockDetected = "40P01"

    /// A serialization failure or deadlock: the transaction can simply run again.
    static func isRetryable(_ error: any Error) -> Bool {
        guard let state = of(error) else { return false }
        return state == serializationFailure || state == deadlockDetected
    }

    /// The SQLSTATE of a server error, if `error` is one.
    static func of(_ error: any Error) -> String? {
        if let error = error as? PSQLError { return error.serverInfo?[.sqlState] }
        return nil
    }
}

extension PostgresConnection {
    /// Runs `query` and collects its rows.
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRandomAccessRow] {
        var rows: [PostgresRandomAccessRow] = []
        for try await row in try await self.query(query, logger: logger) {
            rows.append(row.makeRandomAccess())
        }
        return rows
    }

    func rows(_ sql: SQL, logger: Logger) async throws -> [PostgresRandomAccessRow] {
        try await self.rows(sql.query, logger: logger)
    }

    /// Runs `query`, ignoring any rows.
    func run(_ query: PostgresQuery, logger: Logger) async throws {
        for try await _ in try await self.query(query, logger: logger) {}
    }

    func run(_ sql: SQL, logger: Logger) async throws {
        try await self.run(sql.query, logger: logger)
    }

    /// Runs a prepared statement (preparing it first on this connection) and collects its rows.
    func rows(_ statement: some PreparedQuery, logger: Logger) async throws -> [PostgresRandomAccessRow] {
        var rows: [PostgresRandomAccessRow] = []
        for try await row in try await self.execute(statement, logger: logger) {
            rows.append(row)
        }
        return rows
    }

    /// Runs `body` inside a savepoint; if it fails with a unique violation, rolls back to the
    /// savepoint (so the transaction can go on) and returns false.
    func unlessUniqueViolation(logger: Logger, _ body: () async throws -> Void) async throws -> Bool {
        try await self.run("SAVEPOINT unique_check", logger: logger)
        do {
            try await body()
        } catch where SQLState.of(error) == SQLState.uniqueViolation {
            try await self.run("ROLLBACK TO SAVEPOINT unique_check", logger: logger)
            return false
        }
        try await self.run("RELEASE SAVEPOINT unique_check", logger: logger)
        return true
    }

    /// Runs `body` in a transaction (postgres-nio's `withTransaction`: `BEGIN`, then `COMMIT`, or
    /// `ROLLBACK` if `body` throws), rethrowing what went wrong as it was thrown — the body's
    /// `StoreError`, the server's `PSQLError` — rather than wrapped in a
    /// `PostgresTransactionError`, since callers match on them (a serialization failure is
    /// retried). The rollback is not cut short by a cancelled caller: postgres-nio's queries do
    /// not observe cancellation. A connection that could not roll back is closed, so the pool
    /// never lends out one still inside a transaction.
    func transaction<T: Sendable>(
        logger: Logger, isolation: isolated (any Actor)? = #isolation, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        do {
            return try await self.withTransaction(logger: logger, isolation: isolation) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            if error.rollbackError != nil { try? await self.close() }
            throw error.closureError ?? error.commitError ?? error.beginError ?? error
        }
    }
}
