public import Foundation
public import Logging
import NIOCore
public import NIOHTTP1
public import RotorHTTP
import Synchronization

/// An in-process fake of one provider's key API, in the ``KeyAPIShape`` its public documentation
/// describes, served over real HTTP by RotorHTTP: for tests of the definitions in `providers/`
/// against something that behaves like Linode, SendGrid or Scaleway, none of which can be reached
/// from here.
///
/// Keys authenticate as their account; create answers the plaintext once; lists are masked (or
/// carry no secret) and paged as documented; deleting an unknown key is a 404; errors are in the
/// provider's JSON; a rate limit answers 429. Faults (``failNext(_:status:on:)``,
/// ``rateLimitNext(_:retryAfter:on:)``, ``dropAfterCreate(_:)``, ``setLatency(_:on:)``) come from
/// the shared ``FaultTable``. State lives behind a `Mutex`; handlers never await while holding it.
public final class FakeKeyAPI: Sendable {
    /// The calls, to aim faults and count requests.
    public enum Operation: String, Sendable, Hashable, CaseIterable {
        case verify, create, list, delete
    }

    /// How many requests an operation received, and how many took effect.
    public struct RequestCounts: Sendable, Hashable {
        /// Every request, including those refused by auth, faults or the rate limit.
        public var received = 0
        /// Those that took effect (creates whose answer was dropped included).
        public var succeeded = 0

        /// Counts, zero by default.
        public init(received: Int = 0, succeeded: Int = 0) {
            self.received = received
            self.succeeded = succeeded
        }
    }

    struct State {
        var accounts: Set<String> = []
        /// Keys by id, with the creation sequence that orders listings.
        var keys: [String: (key: FakeKey, sequence: Int)] = [:]
        var keyIDsBySecret: [String: String] = [:]
        var nextSequence = 0
        var faults = FaultTable<Operation>()
        var rateWindows: RateWindows?
        var counts: [Operation: RequestCounts] = [:]
        var createdNames: [String] = []
    }

    /// The provider this fake is.
    public let shape: KeyAPIShape
    let logger: Logger
    let state: Mutex<State>

    /// Creates an empty fake of `shape`; `rateLimited: false` switches its rate limit off.
    public init(_ shape: KeyAPIShape, rateLimited: Bool = true, logger: Logger = Logger(label: "fake-providers")) {
        self.shape = shape
        self.logger = logger
        var state = State()
        if rateLimited { state.rateWindows = RateWindows(limit: shape.rateLimit.requests, window: shape.rateLimit.window) }
        self.state = Mutex(state)
    }

    // MARK: Accounts and keys

    /// Adds an account (a user; for Scaleway an application, whose id is `id` when given) with one
    /// key named `initial`; answers the account's id, the key's id and its plaintext.
    @discardableResult
    public func addAccount(id: String? = nil) -> (accountID: String, keyID: String, secret: String) {
        let accountID = id ?? UUID().uuidString.lowercased()
        return self.state.withLock { state in
            state.accounts.insert(accountID)
            let key = self.insertKey(into: &state, accountID: accountID, name: "initial", expiresAt: nil)
            return (accountID, key.id, key.secret)
        }
    }

    /// Adds a key to an account directly (not through the API), e.g. to fill several pages.
    @discardableResult
    public func addKey(toAccount accountID: String, name: String) -> FakeKey {
        self.state.withLock { state in self.insertKey(into: &state, accountID: accountID, name: name, expiresAt: nil) }
    }

    /// The account's live keys in creation order, with their plaintext.
    public func keys(ofAccount accountID: String) -> [FakeKey] {
        self.state.withLock { state in Self.keys(of: accountID, in: state) }
    }

    /// The names of the keys created through the API, one per create, in order.
    public func createdKeyNames() -> [String] {
        self.state.withLock { $0.createdNames }
    }

    /// How many requests `operation` received and how many took effect.
    public func requestCounts(_ operation: Operation) -> RequestCounts {
        self.state.withLock { $0.counts[operation] ?? RequestCounts() }
    }

    // MARK: Faults

    /// The next `count` requests (for `operation`, or any) answer `status` without effect.
    public func failNext(_ count: Int = 1, status: HTTPResponseStatus = .serviceUnavailable, on operation: Operation? = nil) {
        self.state.withLock { $0.faults.add(.fail(status), count: count, on: operation) }
    }

    /// The next `count` requests (for `operation`, or any) answer 429, saying when to retry the
    /// way the provider does (`Retry-After`, or SendGrid's `X-RateLimit-Reset`).
    public func rateLimitNext(_ count: Int = 1, retryAfter: Int? = 1, on operation: Operation? = nil) {
        self.state.withLock { $0.faults.add(.rateLimit(retryAfter: retryAfter), count: count, on: operation) }
    }

    /// The next `count` creates store their key, then close the connection without an answer.
    public func dropAfterCreate(_ count: Int = 1) {
        self.state.withLock { $0.faults.dropAfterCreate(count) }
    }

    /// Adds `latency` before every answer (or `operation`'s); `.zero` removes it.
    public func setLatency(_ latency: Duration, on operation: Operation? = nil) {
        self.state.withLock { $0.faults.setLatency(latency, on: operation) }
    }

    /// Removes every fault.
    public func clearFaults() {
        self.state.withLock { $0.faults.clear() }
    }

    // MARK: Serving

    /// The routes and middleware, for hosting the fake in a server of one's own.
    public func buildResponder() -> RouterResponder {
        let router = Router()
        router.use(ShapedErrorMiddleware(shape: self.shape))
        router.use(AccessLogMiddleware(level: .debug))
        self.registerRoutes(on: router)
        return router.buildResponder()
    }

    /// Serves the fake until `body` returns; `body` gets the base URL (`http://127.0.0.1:PORT`).
    public func run<T: Sendable>(_ body: @Sendable (_ baseURL: String) async throws -> T) async throws -> T {
        let configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        return try await HTTPServer.withRunningServer(configuration: configuration, responder: self.buildResponder(), logger: self.logger) { address in
            try await body("http://127.0.0.1:\(address.port ?? 0)")
        }
    }

    // MARK: State helpers (lock held)

    func insertKey(into state: inout State, accountID: String, name: String, expiresAt: Date?) -> FakeKey {
        let key = FakeKey(
            id: self.shape.newID(state.nextSequence),
            accountID: accountID,
            name: name,
            secret: self.shape.newSecret(),
            expiresAt: expiresAt,
            createdAt: Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        )
        state.keys[key.id] = (key, state.nextSequence)
        state.nextSequence += 1
        state.keyIDsBySecret[key.secret] = key.id
        return key
    }

    static func keys(of accountID: String, in state: State) -> [FakeKey] {
        state.keys.values.filter { $0.key.accountID == accountID }.sorted { $0.sequence < $1.sequence }.map(\.key)
    }
}
