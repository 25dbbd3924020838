/// An API token (`tok_…`).
public struct TokenID: PrefixedID {
    public static let prefix = "tok"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}
