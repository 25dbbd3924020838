public import Foundation
public import Logging
import NIOCore
public import NIOHTTP1
public import RotorHTTP
import Synchronization

/// An in-process fake of Vultr's API-keys endpoints (vultr-api.md), served over real HTTP by
/// RotorHTTP. It stands in for `api.vultr.com`, which cannot be reached from here, in tests,
/// `rotor demo` and `rotor serve --sandbox`.
///
/// It behaves like the real API: bearer auth per key, users isolated from each other (except that
/// an account's root user, or a sub-user allowed to manage users, reaches its account's users' keys
/// under `/v2/users/{user}/apikeys`), masked listings, cursor paging, Vultr-shaped errors, a per-IP rate limit, and deleted keys that stop
/// authenticating at once. Faults (latency, 5xx, 429, connections dropped after a create) can be
/// switched on and off while it runs. State lives behind a `Mutex`: every handler is synchronous
/// once it holds the lock, so no actor hop is needed.
public final class FakeVultr: Sendable {
    /// How the fake behaves.
    public struct Configuration: Sendable {
        /// Requests per second accepted from one IP before answering `429`; nil disables the limit.
        public var rateLimitPerSecond: Int?

        /// The real API's limit by default: 30 requests per second per IP.
        public init(rateLimitPerSecond: Int? = 30) {
            self.rateLimitPerSecond = rateLimitPerSecond
        }
    }

    struct User {
        var name: String
        var email: String
        /// Users of one account may manage each other's keys (`/v2/users/{user}/apikeys`) if they
        /// are its root user or may manage users.
        var accountID: String = ""
        var isRoot = true
        var managesUsers = false
    }

    struct Fault {
        enum Kind {
            case fail(HTTPResponseStatus)
            case rateLimit(retryAfter: Int?)
        }

        var kind: Kind
        var remaining: Int
        var operation: Operation?
    }

    struct RateWindow {
        var start: ContinuousClock.Instant
        var count: Int
    }

    struct State {
        var users: [String: User] = [:]
        /// Keys by id, with a creation sequence number that orders listings and backs cursors.
        var keys: [String: (key: StoredKey, sequence: Int)] = [:]
        /// Key id by plaintext, for authentication.
        var keyIDsBySecret: [String: String] = [:]
        /// Key ids by user, so that listing one user's keys does not scan everyone's.
        var keyIDsByUser: [String: Set<String>] = [:]
        var nextSequence = 0
        var counts: [Operation: RequestCounts] = [:]
        var rateWindows: [String: RateWindow] = [:]
        var faults: [Fault] = []
        var latency: (duration: Duration, operation: Operation?)?
        var dropsAfterCreate = 0
        /// The name of every key created through the API, in order.
        var createdNames: [String] = []
        /// When each key deleted through the API was deleted, by key id.
        var deletedAt: [String: ContinuousClock.Instant] = [:]
    }

    let configuration: Configuration
    let logger: Logger
    let state = Mutex(State())

    /// Creates an empty fake: add users with ``addUser(name:email:)``.
    public init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "fake-vultr")) {
        self.configuration = configuration
        self.logger = logger
    }

    // MARK: Users and keys

    /// Creates the root user of a new account, with one key, and returns the user's id and that
    /// key's plaintext.
    @discardableResult
    public func addUser(name: String = "Example Operator", email: String = "operator@example.com") -> (userID: String, apiKey: String) {
        let userID = UUID().uuidString.lowercased()
        return self.state.withLock { state in
            state.users[userID] = User(name: name, email: email, accountID: userID)
            let key = Self.insertKey(into: &state, userID: userID, name: "initial", expire: false, dateExpire: nil)
            return (userID, key.secret)
        }
    }

    /// Creates a sub-user in the account of `accountUserID`, with one key; `managesUsers` gives it
    /// the "manage users" permission. Returns nil when that user does not exist.
    @discardableResult
    public func addSubUser(
        to accountUserID: String,
        name: String = "Example Sub-user",
        email: String = "sub@example.com",
        managesUsers: Bool = false
    ) -> (userID: String, apiKey: String)? {
        let userID = UUID().uuidString.lowercased()
        return self.state.withLock { state in
            guard let account = state.users[accountUserID]?.accountID else { return nil }
            state.users[userID] = User(name: name, email: email, accountID: account, isRoot: false, managesUsers: managesUsers)
            let key = Self.insertKey(into: &state, userID: userID, name: "initial", expire: false, dateExpire: nil)
            return (userID, key.secret)
        }
    }

    /// Adds a key to `userID` directly (not through the API), e.g. to set up a listing.
    /// Returns nil when the user does not exist.
    @discardableResult
    public func addKey(toUser userID: String, name: String = "", dateExpire: Date? = nil) -> StoredKey? {
        self.state.withLock { state in
            guard state.users[userID] != nil else { return nil }
            return Self.insertKey(into: &state, userID: userID, name: name, expire: dateExpire != nil, dateExpire: dateExpire)
        }
    }

    /// The user's live keys in creation order, with their plaintext, for assertions.
    public func keys(ofUser userID: String) -> [StoredKey] {
        self.state.withLock { state in Self.keys(of: userID, in: state) }
    }

    /// The key with `id`, if it exists (has not been deleted).
    public func key(id: String) -> StoredKey? {
        self.state.withLock { $0.keys[id]?.key }
    }

    /// When the key with `id` was deleted through the API (as its `DELETE` was handled), if it
    /// was: how a benchmark times what follows a deletion without polling for it.
    public func deletionTime(of id: String) -> ContinuousClock.Instant? {
        self.state.withLock { $0.deletedAt[id] }
    }

    /// The names of the keys created through the API, in creation order, one entry per create
    /// (deleted keys included): how a test counts the creates a job made.
    public func createdKeyNames() -> [String] {
        self.state.withLock { $0.createdNames }
    }

    /// How many requests `operation` has received and how many took effect.
    public func requestCounts(_ operation: Operation) -> RequestCounts {
        self.state.withLock { $0.counts[operation] ?? RequestCounts() }
    }

    // MARK: Faults

    /// Adds `latency` before every request (or only those for `operation`) is answered; `.zero`
    /// removes it.
    public func setLatency(_ latency: Duration, on operation: Operation? = nil) {
        self.state.withLock { $0.latency = latency > .zero ? (latency, operation) : nil }
    }

    /// The next `count` requests (for `operation`, or any) answer `status` (500, 502, 503, ...)
    /// without taking effect.
    public func failNext(_ count: Int = 1, status: HTTPResponseStatus = .serviceUnavailable, on operation: Operation? = nil) {
        self.state.withLock { $0.faults.append(Fault(kind: .fail(status), remaining: count, operation: operation)) }
    }

    /// The next `count` requests (for `operation`, or any) answer `429`, with `Retry-After` when
    /// `retryAfter` is given.
    public func rateLimitNext(_ count: Int = 1, retryAfter: Int? = 1, on operation: Operation? = nil) {
        self.state.withLock { $0.faults.append(Fault(kind: .rateLimit(retryAfter: retryAfter), remaining: count, operation: operation)) }
    }

    /// The next `count` successful creates store their key, then close the connection without an
    /// answer: the client never sees the plaintext, and the key is an orphan at the provider.
    public func dropAfterCreate(_ count: Int = 1) {
        self.state.withLock { $0.dropsAfterCreate += count }
    }

    /// Removes every fault: latency, pending failures, rate limits and drops.
    public func clearFaults() {
        self.state.withLock { state in
            state.faults = []
            state.latency = nil
            state.dropsAfterCreate = 0
        }
    }

    // MARK: Serving

    /// The routes and middleware, for hosting the fake in a server of one's own.
    public func buildResponder() -> RouterResponder {
        let router = Router()
        router.use(VultrErrorMiddleware())
        router.use(AccessLogMiddleware(level: .debug))
        router.use(FaultMiddleware(fake: self))
        self.registerRoutes(on: router)
        return router.buildResponder()
    }

    /// Serves the fake until `body` returns; `body` gets the base URL (`http://127.0.0.1:PORT`).
    public func run<T: Sendable>(
        configuration: HTTPServerConfiguration = HTTPServerConfiguration(host: "127.0.0.1", port: 0),
        _ body: @Sendable (_ baseURL: String) async throws -> T
    ) async throws -> T {
        try await HTTPServer.withRunningServer(configuration: configuration, responder: self.buildResponder(), logger: self.logger) { address in
            let host = address.ipAddress ?? configuration.host
            let port = address.port ?? configuration.port
            return try await body(host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)")
        }
    }

    // MARK: State helpers (called with the lock held)

    static func insertKey(into state: inout State, userID: String, name: String, expire: Bool, dateExpire: Date?) -> StoredKey {
        let key = StoredKey(
            id: UUID().uuidString.lowercased(),
            userID: userID,
            name: name,
            secret: StoredKey.generateSecret(),
            expire: expire,
            dateExpire: expire ? dateExpire : nil,
            // Whole seconds, as the API's timestamps carry no fraction.
            dateCreated: Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        )
        state.keys[key.id] = (key, state.nextSequence)
        state.nextSequence += 1
        state.keyIDsBySecret[key.secret] = key.id
        state.keyIDsByUser[userID, default: []].insert(key.id)
        return key
    }

    static func keys(of userID: String, in state: State) -> [StoredKey] {
        (state.keyIDsByUser[userID] ?? []).compactMap { state.keys[$0] }.sorted { $0.sequence < $1.sequence }.map(\.key)
    }
}
