/// A key for a value that middleware attaches to a request.
public protocol RequestAttributeKey {
    /// The attached value's type.
    associatedtype Value: Sendable
}

/// Typed storage for values middleware hands to handlers (the authenticated caller, for one).
public struct RequestAttributes: Sendable {
    private var storage: [ObjectIdentifier: any Sendable] = [:]

    /// An empty set.
    public init() {}

    /// The value stored under `key`.
    public subscript<Key: RequestAttributeKey>(_ key: Key.Type) -> Key.Value? {
        get { self.storage[ObjectIdentifier(key)] as? Key.Value }
        set { self.storage[ObjectIdentifier(key)] = newValue }
    }
}
