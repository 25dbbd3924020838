import NIOHTTP1

/// The mutable trie a ``Router`` fills during set-up; frozen into a ``RouteNode`` by
/// ``Router/buildResponder()``.
final class RouteTrieBuilder {
    private var literals: [String: RouteTrieBuilder] = [:]
    private var capture: (name: String, node: RouteTrieBuilder)?
    private var handlers: [String: RouteNode.Endpoint] = [:]

    func insert(_ pattern: RoutePattern, method: HTTPMethod, responder: @escaping Responder) {
        var node = self
        for segment in pattern.segments {
            switch segment {
            case .literal(let text):
                if let child = node.literals[text] {
                    node = child
                } else {
                    let child = RouteTrieBuilder()
                    node.literals[text] = child
                    node = child
                }
            case .capture(let name):
                if let existing = node.capture {
                    // Two names for one position would make `parameters[name]` depend on
                    // registration order; refuse it at start-up instead.
                    precondition(existing.name == name, "route \(pattern) names capture {\(name)} where another route has {\(existing.name)}")
                    node = existing.node
                } else {
                    let child = RouteTrieBuilder()
                    node.capture = (name, child)
                    node = child
                }
            }
        }
        precondition(node.handlers[method.rawValue] == nil, "route \(method.rawValue) \(pattern) is registered twice")
        node.handlers[method.rawValue] = RouteNode.Endpoint(template: pattern.description, responder: responder)
    }

    /// The immutable trie; with `instrumentation`, each endpoint's responder is wrapped in the
    /// middleware it returns for that route.
    func freeze(instrumentation: (any RouteInstrumentation)? = nil) -> RouteNode {
        var endpoints = self.handlers
        if let instrumentation {
            for (method, endpoint) in endpoints {
                let middleware = instrumentation.middleware(for: RouteDescriptor(method: method, template: endpoint.template))
                endpoints[method] = RouteNode.Endpoint(template: endpoint.template, responder: [middleware].wrapping(endpoint.responder))
            }
        }
        return RouteNode(
            literals: self.literals.mapValues { $0.freeze(instrumentation: instrumentation) },
            capture: self.capture.map { RouteNode.Capture(name: $0.name, node: $0.node.freeze(instrumentation: instrumentation)) },
            endpoints: endpoints
        )
    }
}
