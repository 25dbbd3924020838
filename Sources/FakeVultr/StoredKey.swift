public import Foundation

/// One API key as the fake stores it, for tests' assertions. Carries the plaintext: never log it.
public struct StoredKey: Sendable, Hashable, CustomStringConvertible {
    /// The key's id (a lowercase UUID), as the API answers it.
    public var id: String
    /// The user the key belongs to.
    public var userID: String
    /// The key's name (may be empty).
    public var name: String
    /// The plaintext key: 36 characters of `[A-Z0-9]`.
    public var secret: String
    /// Whether the key expires.
    public var expire: Bool
    /// When it expires, if it does.
    public var dateExpire: Date?
    /// When it was created.
    public var dateCreated: Date

    /// The key as the API lists it: every character but the last 5 replaced by `*`.
    public var maskedSecret: String { Self.mask(self.secret) }

    /// Id and name only, so that printing a key cannot leak it.
    public var description: String { "StoredKey(id: \(self.id), name: \(self.name), secret: \(self.maskedSecret))" }

    /// `secret` with every character but the last 5 replaced by `*` (same length).
    public static func mask(_ secret: String) -> String {
        String(repeating: "*", count: max(0, secret.count - 5)) + secret.suffix(5)
    }

    /// A new random key: 36 characters of `[A-Z0-9]`.
    static func generateSecret() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<36).map { _ in alphabet.randomElement(using: &generator)! })
    }
}
