import Foundation
import GRDB
import RotorCore
import RotorStorage

/// A GRDB row read by column name for ``RowCoding``.
///
/// The name is found among the statement's column names by exact match. GRDB's own lookup by
/// name is case-insensitive and lowercases every column name on every lookup: a job row read that
/// way spent more time finding its 22 columns than reading them.
struct SQLiteRow: StoredRow {
    let row: Row
    /// The statement's column names, in order.
    let columns: [String]

    private func index(_ column: String) throws -> Int {
        guard let index = self.columns.firstIndex(of: column) else {
            throw StoredValueError(column: column, value: "(the row has no such column)")
        }
        return index
    }

    // Optionals are read as a NULL test and a non-optional read: GRDB decodes `Optional` through
    // its generic path, which builds a decoding context per value.
    func string(_ column: String) throws -> String { try self.row.decode(String.self, atIndex: try self.index(column)) }
    func optionalString(_ column: String) throws -> String? {
        let index = try self.index(column)
        return self.row.hasNull(atIndex: index) ? nil : try self.row.decode(String.self, atIndex: index)
    }
    func int(_ column: String) throws -> Int { try self.row.decode(Int.self, atIndex: try self.index(column)) }
    func optionalInt(_ column: String) throws -> Int? {
        let index = try self.index(column)
        return self.row.hasNull(atIndex: index) ? nil : try self.row.decode(Int.self, atIndex: index)
    }
    func double(_ column: String) throws -> Double { try self.row.decode(Double.self, atIndex: try self.index(column)) }
    func optionalDouble(_ column: String) throws -> Double? {
        let index = try self.index(column)
        return self.row.hasNull(atIndex: index) ? nil : try self.row.decode(Double.self, atIndex: index)
    }
    func bool(_ column: String) throws -> Bool { try self.row.decode(Bool.self, atIndex: try self.index(column)) }

    /// The value in `column`, as GRDB converts it.
    func decode<Value: DatabaseValueConvertible>(_ type: Value.Type, forColumn column: String) throws -> Value {
        try self.row.decode(type, atIndex: try self.index(column))
    }
}

extension Database {
    /// The first row of `sql` (a statement kept prepared), copied; nil when there is none.
    func fetchRow(_ sql: String, arguments: StatementArguments = []) throws -> SQLiteRow? {
        try self.fetchOne(sql, arguments: arguments, as: { SQLiteRow(row: $0.row.copy(), columns: $0.columns) })
    }

    /// Every row of `sql` (a statement kept prepared), copied.
    func fetchRows(_ sql: String, arguments: StatementArguments = []) throws -> [SQLiteRow] {
        try self.fetchAll(sql, arguments: arguments, as: { SQLiteRow(row: $0.row.copy(), columns: $0.columns) })
    }

    /// The first row of `sql` (a statement kept prepared), decoded; nil when there is none.
    /// `decode` reads the row in place (no copy of its values), so it must not keep it.
    func fetchOne<T>(_ sql: String, arguments: StatementArguments = [], as decode: (SQLiteRow) throws -> T) throws -> T? {
        let statement = try self.cachedStatement(sql: sql)
        // The row reads from the statement, which the cursor resets when it goes: keep it till the end.
        let cursor = try Row.fetchCursor(statement, arguments: arguments)
        guard let row = try cursor.next() else { return nil }
        return try withExtendedLifetime(cursor) { try decode(SQLiteRow(row: row, columns: statement.columnNames)) }
    }

    /// Every row of `sql` (a statement kept prepared), decoded; `decode` reads each in place.
    func fetchAll<T>(_ sql: String, arguments: StatementArguments = [], as decode: (SQLiteRow) throws -> T) throws -> [T] {
        let statement = try self.cachedStatement(sql: sql)
        let columns = statement.columnNames
        let cursor = try Row.fetchCursor(statement, arguments: arguments)
        var decoded: [T] = []
        while let row = try cursor.next() { decoded.append(try decode(SQLiteRow(row: row, columns: columns))) }
        return decoded
    }
}

extension StatementArguments {
    /// Arguments binding `values` in order, as SQLite stores them (booleans as 0 and 1, bytes as a blob).
    init(_ values: [StoredValue]) {
        self.init(values.map { value -> DatabaseValue in
            switch value {
            case .text(let value): value?.databaseValue ?? .null
            case .int(let value): value?.databaseValue ?? .null
            case .double(let value): value?.databaseValue ?? .null
            case .bool(let value): value?.databaseValue ?? .null
            case .bytes(let value): value.map { Data($0) }?.databaseValue ?? .null
            }
        })
    }
}
