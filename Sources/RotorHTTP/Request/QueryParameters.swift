/// The query string, decoded as `application/x-www-form-urlencoded` (`+` is a space).
public struct QueryParameters: Sendable, Hashable {
    private var pairs: [(name: String, value: String)]

    /// Parses a raw query (without the `?`).
    init(raw: Substring) throws(HTTPError) {
        self.pairs = []
        for pair in raw.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = PercentDecoding.decode(parts[0], plusIsSpace: true),
                let value = PercentDecoding.decode(parts.count > 1 ? parts[1] : "", plusIsSpace: true)
            else {
                throw HTTPError.badRequest("The query string is not valid percent-encoded UTF-8.")
            }
            self.pairs.append((name, value))
        }
    }

    /// No parameters.
    public init() { self.pairs = [] }

    /// The first value given for `name`.
    public subscript(_ name: String) -> String? {
        self.pairs.first { $0.name == name }?.value
    }

    /// Every value given for `name`, in order.
    public func all(_ name: String) -> [String] {
        self.pairs.filter { $0.name == name }.map(\.value)
    }

    /// The parameter names, in order, with repeats.
    public var names: [String] { self.pairs.map(\.name) }

    public static func == (lhs: QueryParameters, rhs: QueryParameters) -> Bool {
        lhs.pairs.elementsEqual(rhs.pairs) { $0 == $1 }
    }

    public func hash(into hasher: inout Hasher) {
        for pair in self.pairs {
            hasher.combine(pair.name)
            hasher.combine(pair.value)
        }
    }
}
