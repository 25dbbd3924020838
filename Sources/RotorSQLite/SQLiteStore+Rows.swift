import Foundation
import GRDB
import RotorCore
import RotorStorage

/// GRDB's rows, read by column name for ``RowCoding``.
extension Row: StoredRow {
    package func string(_ column: String) throws -> String { try self.decode(String.self, forColumn: column) }
    package func optionalString(_ column: String) throws -> String? { try self.decode(String?.self, forColumn: column) }
    package func int(_ column: String) throws -> Int { try self.decode(Int.self, forColumn: column) }
    package func optionalInt(_ column: String) throws -> Int? { try self.decode(Int?.self, forColumn: column) }
    package func double(_ column: String) throws -> Double { try self.decode(Double.self, forColumn: column) }
    package func optionalDouble(_ column: String) throws -> Double? { try self.decode(Double?.self, forColumn: column) }
    package func bool(_ column: String) throws -> Bool { try self.decode(Bool.self, forColumn: column) }
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
