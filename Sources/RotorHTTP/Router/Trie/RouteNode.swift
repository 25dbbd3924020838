import NIOHTTP1

/// One node of the frozen routing trie. Immutable, so it is shared freely across connections.
final class RouteNode: Sendable {
    struct Capture: Sendable {
        let name: String
        let node: RouteNode
    }

    struct Endpoint: Sendable {
        /// The registered path template, for logs and metrics.
        let template: String
        let responder: Responder
    }

    let literals: [String: RouteNode]
    let capture: Capture?
    /// Keyed by method name (`HTTPMethod` is not `Hashable`).
    let endpoints: [String: Endpoint]

    init(literals: [String: RouteNode], capture: Capture?, endpoints: [String: Endpoint]) {
        self.literals = literals
        self.capture = capture
        self.endpoints = endpoints
    }

    /// The methods this node answers, in a stable order for `Allow`. `HEAD` is implied by `GET`.
    var allowedMethods: [HTTPMethod] {
        var methods = Set(self.endpoints.keys)
        if methods.contains("GET") { methods.insert("HEAD") }
        return methods.sorted().map { HTTPMethod(rawValue: $0) }
    }
}
