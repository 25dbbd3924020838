/// A route path as registered: literal segments and `{name}` captures.
struct RoutePattern: CustomStringConvertible {
    enum Segment: Hashable {
        case literal(String)
        case capture(String)
    }

    var segments: [Segment]

    init(_ path: String) {
        self.segments = path.split(separator: "/", omittingEmptySubsequences: true).map { raw in
            if raw.hasPrefix("{") && raw.hasSuffix("}") && raw.count > 2 {
                return .capture(String(raw.dropFirst().dropLast()))
            }
            precondition(!raw.contains("{") && !raw.contains("}"), "malformed route segment '\(raw)' in '\(path)'")
            return .literal(String(raw))
        }
    }

    init(segments: [Segment]) {
        self.segments = segments
    }

    func appending(_ other: RoutePattern) -> RoutePattern {
        RoutePattern(segments: self.segments + other.segments)
    }

    /// The template, e.g. `/v1/credentials/{id}`, as used in logs and metrics.
    var description: String {
        "/" + self.segments.map { segment in
            switch segment {
            case .literal(let text): text
            case .capture(let name): "{\(name)}"
            }
        }.joined(separator: "/")
    }
}
