/// Why ``SQLiteStore`` could not open its database file. Names the path and the system error,
/// never a secret.
public struct SQLiteStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}
