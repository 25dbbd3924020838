/// Why ``PostgresStore`` could not be configured, connect, or read what it stored. Never carries
/// a password or a secret.
public struct PostgresStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public var description: String

    /// Creates an error.
    public init(_ description: String) {
        self.description = description
    }
}
