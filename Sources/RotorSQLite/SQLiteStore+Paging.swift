import GRDB
import RotorCore
import RotorStorage

extension SQLiteStore {
    /// One page of the rows `select` reads that meet `conditions` (their `?` bound to `arguments`,
    /// in order), ordered by the `time` and `id` columns in `keyset`'s direction, after `after`.
    static func page<Item>(
        _ db: Database, _ keyset: TimeKeyset<Item>, after: TimePosition?, limit: Int,
        select: String, where conditions: [String] = [], arguments: StatementArguments = [],
        time: String = "created_at", id: String = "id", decode: @escaping (StatementRow) throws -> Item
    ) throws -> Page<Item> {
        var conditions = conditions
        var arguments = arguments
        let (comparison, direction) = keyset.newestFirst ? ("<", " DESC") : (">", "")
        if let after {
            conditions.append("(\(time) \(comparison) ? OR (\(time) = ? AND \(id) \(comparison) ?))")
            arguments += [after.time, after.time, after.id]
        }
        var sql = select
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY \(time)\(direction), \(id)\(direction) LIMIT ?"
        arguments += [limit + 1]
        return keyset.page(try db.fetchAll(sql, arguments: arguments, as: decode), limit: limit)
    }
}
