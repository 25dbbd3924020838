public import NIOHTTP1

/// Collects routes and middleware during set-up, then freezes into an immutable
/// ``RouterResponder`` with ``buildResponder()``.
///
/// Paths resolve before methods: a path that exists but lacks the method answers
/// `405` with `Allow`; a path that does not exist answers `404`. Literal segments win over
/// `{captures}`; empty segments (so trailing slashes) are ignored.
public final class Router {
    private let trie = RouteTrieBuilder()
    private var middleware: [any Middleware] = []
    private var instrumentation: (any RouteInstrumentation)?

    /// An empty router.
    public init() {}

    /// Adds middleware that runs for every request, including those answered 404 or 405.
    public func use(_ middleware: any Middleware) {
        self.middleware.append(middleware)
    }

    /// Wraps every route, and the answers for unmatched requests, in `instrumentation`'s
    /// per-route middleware when the router is frozen (see ``RouteInstrumentation``).
    public func instrument(with instrumentation: any RouteInstrumentation) {
        self.instrumentation = instrumentation
    }

    /// Registers `responder` for `method` on `path` (e.g. `/v1/jobs/{id}`).
    public func on(_ method: HTTPMethod, _ path: String, use responder: @escaping Responder) {
        self.trie.insert(RoutePattern(path), method: method, responder: responder)
    }

    /// A group of routes under `prefix` that share `middleware`.
    public func group(_ prefix: String, middleware: any Middleware...) -> RouterGroup {
        RouterGroup(trie: self.trie, prefix: RoutePattern(prefix), middleware: middleware)
    }

    /// Freezes the routes into a responder. The router may not be changed afterwards.
    public func buildResponder() -> RouterResponder {
        RouterResponder(
            root: self.trie.freeze(instrumentation: self.instrumentation),
            middleware: self.middleware,
            unmatched: self.instrumentation.map { [$0.middleware(for: .unmatched)] } ?? []
        )
    }
}

/// Routes registered under a common prefix and middleware chain.
public struct RouterGroup {
    fileprivate let trie: RouteTrieBuilder
    fileprivate let prefix: RoutePattern
    fileprivate let middleware: [any Middleware]

    fileprivate init(trie: RouteTrieBuilder, prefix: RoutePattern, middleware: [any Middleware]) {
        self.trie = trie
        self.prefix = prefix
        self.middleware = middleware
    }

    /// Registers `responder`, wrapped in the group's middleware, for `method` on `prefix + path`.
    public func on(_ method: HTTPMethod, _ path: String, use responder: @escaping Responder) {
        self.trie.insert(self.prefix.appending(RoutePattern(path)), method: method, responder: self.middleware.wrapping(responder))
    }

    /// A nested group: its middleware runs inside this group's.
    public func group(_ prefix: String, middleware: any Middleware...) -> RouterGroup {
        RouterGroup(trie: self.trie, prefix: self.prefix.appending(RoutePattern(prefix)), middleware: self.middleware + middleware)
    }
}

/// Shorthands shared by ``Router`` and ``RouterGroup``.
public protocol RouteRegistering {
    /// Registers `responder` for `method` on `path`.
    func on(_ method: HTTPMethod, _ path: String, use responder: @escaping Responder)
}

extension Router: RouteRegistering {}
extension RouterGroup: RouteRegistering {}

extension RouteRegistering {
    /// Registers a `GET` route (which also answers `HEAD`).
    public func get(_ path: String, use responder: @escaping Responder) { self.on(.GET, path, use: responder) }
    /// Registers a `POST` route.
    public func post(_ path: String, use responder: @escaping Responder) { self.on(.POST, path, use: responder) }
    /// Registers a `PUT` route.
    public func put(_ path: String, use responder: @escaping Responder) { self.on(.PUT, path, use: responder) }
    /// Registers a `PATCH` route.
    public func patch(_ path: String, use responder: @escaping Responder) { self.on(.PATCH, path, use: responder) }
    /// Registers a `DELETE` route.
    public func delete(_ path: String, use responder: @escaping Responder) { self.on(.DELETE, path, use: responder) }
}
