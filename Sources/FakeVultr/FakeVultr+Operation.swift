import NIOHTTP1
import RotorHTTP

extension FakeVultr {
    /// The API calls the fake answers; used to aim faults and to count requests.
    public enum Operation: String, Sendable, Hashable, CaseIterable {
        /// `POST /v2/apikeys` (or `/v2/users/{user}/apikeys`).
        case create
        /// `GET /v2/apikeys` (or `/v2/users/{user}/apikeys`).
        case list
        /// `GET /v2/apikeys/{id}` (or `/v2/users/{user}/apikeys/{id}`).
        case get
        /// `DELETE /v2/apikeys/{id}` (or `/v2/users/{user}/apikeys/{id}`).
        case delete
        /// `GET /v2/account`.
        case account

        /// The operation a request is for, or nil for an unknown route or method.
        init?(_ request: Request) {
            var segments = request.pathSegments
            guard segments.count >= 2, segments[0] == "v2" else { return nil }
            // Another user's keys are the same operations on their keys.
            if segments.count >= 4, segments[1] == "users", segments[3] == "apikeys" {
                segments.removeSubrange(1...2)
            }
            switch (request.method, segments.count, segments[1]) {
            case (.POST, 2, "apikeys"): self = .create
            case (.GET, 2, "apikeys"), (.HEAD, 2, "apikeys"): self = .list
            case (.GET, 3, "apikeys"), (.HEAD, 3, "apikeys"): self = .get
            case (.DELETE, 3, "apikeys"): self = .delete
            case (.GET, 2, "account"), (.HEAD, 2, "account"): self = .account
            default: return nil
            }
        }
    }

    /// How many requests an operation received, and how many of them took effect.
    public struct RequestCounts: Sendable, Hashable {
        /// Every request for the operation, including those refused by auth, faults or rate limits.
        public var received: Int = 0
        /// Those that took effect (2xx, plus creates dropped by ``FakeVultr/dropAfterCreate(_:)``,
        /// whose key does exist).
        public var succeeded: Int = 0

        /// Zero counts.
        public init(received: Int = 0, succeeded: Int = 0) {
            self.received = received
            self.succeeded = succeeded
        }
    }
}
