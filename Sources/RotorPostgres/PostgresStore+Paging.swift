import PostgresNIO
import RotorCore
import RotorStorage

extension PostgresStore {
    /// One page of the rows `sql` selects that meet `conditions` (their parameters already bound
    /// on `sql`), ordered by the `time` and `id` columns in `keyset`'s direction, after `after`.
    /// `id` may carry a collation (`id COLLATE "C"`): it is used both to compare and to order.
    static func page<Item>(
        _ tx: Transaction, _ keyset: TimeKeyset<Item>, after: TimePosition?, limit: Int,
        _ sql: SQL, where conditions: [String] = [], time: String = "created_at", id: String = "id",
        decode: (PostgresRandomAccessRow) throws -> Item
    ) async throws -> Page<Item> {
        var conditions = conditions
        let (comparison, direction) = keyset.newestFirst ? ("<", " DESC") : (">", "")
        if let after {
            let at = sql.bind(.double(after.time))
            conditions.append("(\(time) \(comparison) \(at) OR (\(time) = \(at) AND \(id) \(comparison) \(sql.bind(.text(after.id)))))")
        }
        if !conditions.isEmpty { sql.append(" WHERE " + conditions.joined(separator: " AND ")) }
        sql.append(" ORDER BY \(time)\(direction), \(id)\(direction) LIMIT \(sql.bind(.int(limit + 1)))")
        return keyset.page(try await tx.rows(sql).map(decode), limit: limit)
    }
}
