import GRDB

// The store's statements go through each connection's statement cache: they are compiled once
// per connection, not on every call. GRDB's `execute(sql:)` and `fetchOne(_:sql:)` parse and
// authorize the SQL every time, which was a third of the writer's time in `rotor-bench engine`. Only
// single statements whose text does not vary with values belong here (values go in `arguments`).

extension Database {
    /// Executes one cached statement.
    func run(sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try self.cachedStatement(sql: sql).execute(arguments: arguments)
    }
}

extension Row {
    /// The first row of a cached statement.
    static func fetchOne(cached db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> Row? {
        try Row.fetchOne(db.cachedStatement(sql: sql), arguments: arguments)
    }

    /// Every row of a cached statement.
    static func fetchAll(cached db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> [Row] {
        try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments)
    }
}

extension DatabaseValueConvertible {
    /// The first value of a cached statement.
    static func fetchOne(cached db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> Self? {
        try Self.fetchOne(db.cachedStatement(sql: sql), arguments: arguments)
    }

    /// Every value of a cached statement.
    static func fetchAll(cached db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> [Self] {
        try Self.fetchAll(db.cachedStatement(sql: sql), arguments: arguments)
    }
}
