import GRDB
import GRDBSQLite
import RotorCore

/// Rows decoded earlier, each kept with the bytes it was decoded from, so that reading a row
/// whose every column is unchanged skips decoding it.
///
/// The row is still read from SQLite every time: only its decoding (a job row's nested JSON
/// columns, dates and durations, about 6 % of a `GET /v1/jobs/{id}`'s CPU) is skipped, and only
/// when each column's SQLite type and bytes equal those of the kept copy. Any write that changes
/// a column, whoever makes it, changes the bytes, so no invalidation is needed.
///
/// At most `capacity` rows are kept; when full, all are dropped and it fills again.
final class DecodedRows<Value: Sendable>: Sendable {
    private struct Entry: Sendable {
        let encoded: [UInt8]
        let value: Value
    }

    private let entries: BoundedTable<String, Entry>

    init(capacity: Int = 1_024) {
        self.entries = BoundedTable(capacity: capacity)
    }

    /// How many rows are kept.
    var count: Int { self.entries.count }

    /// The value of `row`, whose key is `key`: the kept one when the row's columns equal those
    /// it was decoded from, else `decode(row)`, which is then kept.
    func value(of row: StatementRow, key: String, decode: (StatementRow) throws -> Value) throws -> Value {
        if let kept = self.entries[key], row.hasColumns(kept.encoded) {
            return kept.value
        }
        // Encoded before decoding: reading a column as another type converts it in place.
        let encoded = row.encodedColumns()
        let value = try decode(row)
        self.entries.insert(Entry(encoded: encoded, value: value), for: key)
        return value
    }
}

extension StatementRow {
    // Each column encodes as its SQLite type (one byte), then for an integer or a real its eight
    // bytes, for text or a blob its length (eight bytes) and its bytes, for NULL nothing. Every
    // column's type is read before its value, and the value with the function of that type, so
    // that nothing is converted.

    /// The row's columns, encoded for ``hasColumns(_:)``.
    func encodedColumns() -> [UInt8] {
        var out: [UInt8] = []
        let count = sqlite3_column_count(self.statement)
        for index in 0..<count {
            let type = sqlite3_column_type(self.statement, index)
            out.append(UInt8(truncatingIfNeeded: type))
            switch type {
            case SQLITE_INTEGER:
                Self.append(UInt64(bitPattern: sqlite3_column_int64(self.statement, index)), to: &out)
            case SQLITE_FLOAT:
                Self.append(sqlite3_column_double(self.statement, index).bitPattern, to: &out)
            case SQLITE_TEXT, SQLITE_BLOB:
                let bytes = self.rawBytes(index, type: type)
                Self.append(UInt64(bytes.count), to: &out)
                out.append(contentsOf: bytes)
            default:
                break
            }
        }
        return out
    }

    /// Whether the row's columns are those `encoded` (from ``encodedColumns()``) holds.
    func hasColumns(_ encoded: [UInt8]) -> Bool {
        encoded.withUnsafeBufferPointer { kept in
            var offset = 0
            func next(_ width: Int) -> UnsafeBufferPointer<UInt8>? {
                guard offset + width <= kept.count else { return nil }
                defer { offset += width }
                return UnsafeBufferPointer(rebasing: kept[offset..<offset + width])
            }
            func equals(_ value: UInt64) -> Bool {
                guard let bytes = next(8) else { return false }
                return withUnsafeBytes(of: value.littleEndian) { $0.elementsEqual(bytes) }
            }
            let count = sqlite3_column_count(self.statement)
            for index in 0..<count {
                let type = sqlite3_column_type(self.statement, index)
                guard let keptType = next(1), keptType[0] == UInt8(truncatingIfNeeded: type) else { return false }
                switch type {
                case SQLITE_INTEGER:
                    guard equals(UInt64(bitPattern: sqlite3_column_int64(self.statement, index))) else { return false }
                case SQLITE_FLOAT:
                    guard equals(sqlite3_column_double(self.statement, index).bitPattern) else { return false }
                case SQLITE_TEXT, SQLITE_BLOB:
                    let bytes = self.rawBytes(index, type: type)
                    guard equals(UInt64(bytes.count)), let keptBytes = next(bytes.count), keptBytes.elementsEqual(bytes) else { return false }
                default:
                    break
                }
            }
            return offset == kept.count
        }
    }

    /// A text or blob column's bytes, in place: valid until the statement steps again.
    private func rawBytes(_ index: Int32, type: Int32) -> UnsafeRawBufferPointer {
        let start: UnsafeRawPointer? =
            type == SQLITE_TEXT ? sqlite3_column_text(self.statement, index).map(UnsafeRawPointer.init) : sqlite3_column_blob(self.statement, index)
        // The length is asked after the pointer, as SQLite's documentation says to.
        let count = Int(sqlite3_column_bytes(self.statement, index))
        guard let start, count > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: start, count: count)
    }

    private static func append(_ value: UInt64, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }
}
