import Foundation
import GRDB
import GRDBSQLite
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

    private func index(_ column: String) throws -> Int { try self.columns.columnIndex(column) }

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
        let statement = try self.cachedStatement(sql: sql)
        return try Row.fetchOne(statement, arguments: arguments).map { SQLiteRow(row: $0, columns: statement.columnNames) }
    }

    /// Every row of `sql` (a statement kept prepared), copied.
    func fetchRows(_ sql: String, arguments: StatementArguments = []) throws -> [SQLiteRow] {
        let statement = try self.cachedStatement(sql: sql)
        let columns = statement.columnNames
        return try Row.fetchAll(statement, arguments: arguments).map { SQLiteRow(row: $0, columns: columns) }
    }

    /// The first row of `sql` (a statement kept prepared), decoded; nil when there is none.
    /// `decode` reads the row in place (``StatementRow``), so it must not keep it.
    func fetchOne<T>(_ sql: String, arguments: StatementArguments = [], as decode: @escaping (StatementRow) throws -> T) throws -> T? {
        try DecodingCursor(statement: try self.cachedStatement(sql: sql), arguments: arguments, decode: decode).next()
    }

    /// Every row of `sql` (a statement kept prepared), decoded; `decode` reads each in place.
    func fetchAll<T>(_ sql: String, arguments: StatementArguments = [], as decode: @escaping (StatementRow) throws -> T) throws -> [T] {
        try Array(DecodingCursor(statement: try self.cachedStatement(sql: sql), arguments: arguments, decode: decode))
    }
}

/// The row a statement has stepped to, read in place with SQLite's column functions for
/// ``RowCoding``: no `Row` is made (GRDB builds a table of lowercased column names for each),
/// and no value is copied that is not read. Valid only until the statement steps again.
struct StatementRow: StoredRow {
    let statement: SQLiteStatement
    /// The statement's column names, in order.
    let columns: [String]

    private func index(_ column: String) throws -> Int32 { Int32(try self.columns.columnIndex(column)) }

    /// The column at `index`, nil for NULL.
    private func present(_ column: String) throws -> Int32? {
        let index = try self.index(column)
        return sqlite3_column_type(self.statement, index) == SQLITE_NULL ? nil : index
    }

    private func required(_ column: String) throws -> Int32 {
        guard let index = try self.present(column) else { throw StoredValueError(column: column, value: "NULL") }
        return index
    }

    private func text(_ index: Int32) -> String {
        guard let text = sqlite3_column_text(self.statement, index) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(self.statement, index))), as: UTF8.self)
    }

    func string(_ column: String) throws -> String { self.text(try self.required(column)) }
    func optionalString(_ column: String) throws -> String? { try self.present(column).map(self.text) }
    func int(_ column: String) throws -> Int { Int(sqlite3_column_int64(self.statement, try self.required(column))) }
    func optionalInt(_ column: String) throws -> Int? { try self.present(column).map { Int(sqlite3_column_int64(self.statement, $0)) } }
    func double(_ column: String) throws -> Double { sqlite3_column_double(self.statement, try self.required(column)) }
    func optionalDouble(_ column: String) throws -> Double? { try self.present(column).map { sqlite3_column_double(self.statement, $0) } }
    func bool(_ column: String) throws -> Bool { sqlite3_column_int64(self.statement, try self.required(column)) != 0 }

    /// The bytes of a blob column.
    func bytes(_ column: String) throws -> [UInt8] {
        let index = try self.required(column)
        let count = Int(sqlite3_column_bytes(self.statement, index))
        guard count > 0, let blob = sqlite3_column_blob(self.statement, index) else { return [] }
        return Array(UnsafeRawBufferPointer(start: blob, count: count))
    }
}

/// A cursor that decodes each row in place (``StatementRow``).
final class DecodingCursor<Element>: DatabaseCursor {
    let _statement: Statement
    var _isDone = false
    private let columns: [String]
    private let decode: (StatementRow) throws -> Element

    init(statement: Statement, arguments: StatementArguments, decode: @escaping (StatementRow) throws -> Element) throws {
        self._statement = statement
        self.columns = statement.columnNames
        self.decode = decode
        try statement.setArguments(arguments)  // resets the statement and binds
    }

    deinit {
        // Leaves the statement reset, so it holds nothing between uses (GRDB's reset is not
        // public; setting its arguments resets it). After a failed step this fails too, harmlessly.
        try? self._statement.setArguments(self._statement.arguments)
    }

    func _element(sqliteStatement: SQLiteStatement) throws -> Element {
        try self.decode(StatementRow(statement: sqliteStatement, columns: self.columns))
    }
}

extension [String] {
    /// Where `column` is among a statement's column names, by exact match.
    fileprivate func columnIndex(_ column: String) throws -> Int {
        guard let index = self.firstIndex(of: column) else {
            throw StoredValueError(column: column, value: "(the row has no such column)")
        }
        return index
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
