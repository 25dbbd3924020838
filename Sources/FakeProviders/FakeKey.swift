public import Foundation

/// One key as a fake provider stores it, for tests' assertions. Carries the plaintext: never log it.
public struct FakeKey: Sendable, Hashable, CustomStringConvertible {
    /// The provider's id of the key (Linode's is a number, written here as text).
    public var id: String
    /// The account (user, application) the key belongs to and authenticates as.
    public var accountID: String
    /// Its name (label, description).
    public var name: String
    /// The plaintext.
    public var secret: String
    /// When it expires, if it does.
    public var expiresAt: Date?
    /// When it was created (whole seconds).
    public var createdAt: Date

    /// Id and name only, so that printing a key cannot leak it.
    public var description: String { "FakeKey(id: \(self.id), name: \(self.name))" }
}

/// The random parts the shapes make keys from.
enum Random {
    static func string(_ count: Int, from alphabet: String) -> String {
        let characters = Array(alphabet)
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in characters.randomElement(using: &generator)! })
    }

    static let hex = "0123456789abcdef"
    static let upperAlphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    static let alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
}
