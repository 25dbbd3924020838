import NIOCore
import PostgresNIO
import RotorCore
import RotorStorage

/// PostgresNIO's rows, read by column name for ``RowCoding`` (and the store's own reads).
extension PostgresRandomAccessRow: StoredRow {
    package func string(_ column: String) throws -> String { try self[column].decode(String.self) }
    package func optionalString(_ column: String) throws -> String? { try self[column].decode(String?.self) }
    package func int(_ column: String) throws -> Int { try self[column].decode(Int.self) }
    package func optionalInt(_ column: String) throws -> Int? { try self[column].decode(Int?.self) }
    package func double(_ column: String) throws -> Double { try self[column].decode(Double.self) }
    package func optionalDouble(_ column: String) throws -> Double? { try self[column].decode(Double?.self) }
    package func bool(_ column: String) throws -> Bool { try self[column].decode(Bool.self) }

    /// The bytes in a `bytea` column.
    func bytes(_ column: String) throws -> [UInt8] { Array(try self[column].decode(ByteBuffer.self).readableBytesView) }
}
