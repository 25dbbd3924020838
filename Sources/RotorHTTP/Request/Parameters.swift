/// Values captured from `{name}` segments of a route, percent-decoded.
public struct Parameters: Sendable, Hashable {
    private var values: [String: String] = [:]

    /// An empty set.
    public init() {}

    /// The value captured for `name`, if the route has that capture.
    public subscript(_ name: String) -> String? {
        get { self.values[name] }
        set { self.values[name] = newValue }
    }

    /// The value captured for `name`, or a 404 when it is missing: a route without that capture
    /// is a programming error, but answering 404 is safer than crashing.
    public func require(_ name: String) throws(HTTPError) -> String {
        guard let value = self.values[name] else { throw HTTPError.notFound() }
        return value
    }
}
