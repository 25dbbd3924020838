/// A key for a value that middleware attaches to a request.
public protocol RequestAttributeKey {
    /// The attached value's type.
    associatedtype Value: Sendable
}

/// Typed storage for values middleware hands to handlers (the authenticated caller, for one).
public struct RequestAttributes: Sendable {
    // A request carries one attribute or none (the caller, on authenticated routes): the first
    // is kept inline, so that attaching it allocates no table on every request.
    private var first: (key: ObjectIdentifier, value: any Sendable)?
    private var others: [ObjectIdentifier: any Sendable] = [:]

    /// An empty set.
    public init() {}

    /// The value stored under `key`.
    public subscript<Key: RequestAttributeKey>(_ key: Key.Type) -> Key.Value? {
        get {
            let id = ObjectIdentifier(key)
            if let first = self.first, first.key == id { return first.value as? Key.Value }
            return self.others[id] as? Key.Value
        }
        set {
            // A key lives in one place: the inline slot or the table.
            let id = ObjectIdentifier(key)
            if self.first?.key == id || (self.first == nil && self.others[id] == nil) {
                self.first = newValue.map { (id, $0) }
            } else {
                self.others[id] = newValue
            }
        }
    }
}
