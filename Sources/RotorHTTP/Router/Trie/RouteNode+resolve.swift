import NIOHTTP1

extension RouteNode {
    /// The node a path leads to and the values its captures took.
    struct Match {
        let node: RouteNode
        let captures: [(name: String, value: String)]
    }

    /// Finds the node for `segments`. A literal segment takes precedence over a capture at the
    /// same position; if the literal branch leads nowhere, the capture branch is tried.
    func resolve(_ segments: [String]) -> Match? {
        var captures: [(name: String, value: String)] = []
        guard let node = self.resolve(segments[...], captures: &captures) else { return nil }
        return Match(node: node, captures: captures)
    }

    private func resolve(_ segments: ArraySlice<String>, captures: inout [(name: String, value: String)]) -> RouteNode? {
        guard let segment = segments.first else {
            return self.endpoints.isEmpty ? nil : self
        }
        let rest = segments.dropFirst()
        if let literal = self.literals[segment], let found = literal.resolve(rest, captures: &captures) {
            return found
        }
        if let capture = self.capture {
            captures.append((capture.name, segment))
            if let found = capture.node.resolve(rest, captures: &captures) {
                return found
            }
            captures.removeLast()
        }
        return nil
    }
}
