public import Foundation

/// What a target is told about a credential's key (DESIGN.md §4, Targets).
public struct TargetEvent: Sendable, Hashable {
    /// The event types targets receive.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// A new key, with its plaintext: start using it (during `distribute`).
        case keyPending = "key.pending"
        /// The new key is withdrawn; keep the old one.
        case keyRolledBack = "key.rolled_back"
        /// The old key is deleted at the provider.
        case keyRevoked = "key.revoked"
    }

    /// The delivery id (`webhook-id`): stable across retries, so receivers can deduplicate.
    public var id: String
    /// The type.
    public var kind: Kind
    /// When the event happened.
    public var timestamp: Date
    /// The credential.
    public var credentialID: CredentialID
    /// Its name.
    public var credentialName: String
    /// The job.
    public var jobID: JobID
    /// The credential version the event concerns.
    public var version: Int
    /// The key the event is about.
    public var providerKeyID: String
    /// The new key's plaintext: only in `key.pending`.
    public var secret: Secret?

    /// Creates an event.
    public init(
        id: String,
        kind: Kind,
        timestamp: Date,
        credentialID: CredentialID,
        credentialName: String,
        jobID: JobID,
        version: Int,
        providerKeyID: String,
        secret: Secret? = nil
    ) {
        self.id = id
        self.kind = kind
        self.timestamp = timestamp
        self.credentialID = credentialID
        self.credentialName = credentialName
        self.jobID = jobID
        self.version = version
        self.providerKeyID = providerKeyID
        self.secret = kind == .keyPending ? secret : nil
    }
}

/// How one delivery or verification went.
public enum DeliveryOutcome: Sendable, Hashable {
    /// A 2xx answer in time.
    case delivered(status: Int)
    /// 408, 429, 5xx, a timeout or a network error: worth retrying (after `retryAfter` if given).
    case transientFailure(String, retryAfter: Duration?)
    /// Any other answer: retrying will not help.
    case permanentFailure(String)

    /// Whether it succeeded.
    public var isDelivered: Bool {
        if case .delivered = self { return true }
        return false
    }
}

/// How one delivery or verification went, with the HTTP status when there was an answer (for
/// the delivery log).
public struct DeliveryResult: Sendable, Hashable {
    /// The outcome.
    public var outcome: DeliveryOutcome
    /// The status answered; nil on a network error or timeout.
    public var statusCode: Int?

    /// Creates a result.
    public init(_ outcome: DeliveryOutcome, statusCode: Int?) {
        self.outcome = outcome
        self.statusCode = statusCode
    }
}

/// Sends events to targets and checks their `verify_url`s.
public protocol TargetDelivery: Sendable {
    /// POSTs `event` to `target.url`, signed with `signingSecret` (Standard Webhooks).
    func deliver(_ event: TargetEvent, to target: Target, signingSecret: Secret) async -> DeliveryOutcome
    /// GETs `url`; 2xx means the consumer works with the new key.
    func verify(url: String) async -> DeliveryOutcome
    /// POSTs `event` to `target.url` with one Standard Webhooks signature per secret in
    /// `signingSecrets` (space-separated, as while a target's secret is being rolled).
    func deliver(_ event: TargetEvent, to target: Target, signingSecrets: [Secret]) async -> DeliveryResult
    /// ``verify(url:)`` with the status answered.
    func check(url: String) async -> DeliveryResult
}

extension TargetDelivery {
    /// Signs with the first secret only; implementations should sign with each.
    public func deliver(_ event: TargetEvent, to target: Target, signingSecrets: [Secret]) async -> DeliveryResult {
        guard let first = signingSecrets.first else { return DeliveryResult(.permanentFailure("no signing secret"), statusCode: nil) }
        let outcome = await self.deliver(event, to: target, signingSecret: first)
        return DeliveryResult(outcome, statusCode: outcome.status)
    }

    /// ``verify(url:)``, knowing the status only on success.
    public func check(url: String) async -> DeliveryResult {
        let outcome = await self.verify(url: url)
        return DeliveryResult(outcome, statusCode: outcome.status)
    }
}

extension DeliveryOutcome {
    /// The status of a delivery, when the outcome carries it.
    var status: Int? {
        if case .delivered(let status) = self { return status }
        return nil
    }
}

/// The URL rule for targets, verify URLs and subscriptions: `https`, or `http` to a loopback
/// host (`localhost`, 127.0.0.0/8, `::1`); a port, if given, from 1 to 65535; and, with a policy,
/// no address or well-known internal name the ``OutboundPolicy`` denies. Names are resolved and
/// checked again when the request is made: this rule only catches what the text already shows.
public enum OutboundURL {
    /// nil when `text` is acceptable, else what is wrong with it (to follow the field name).
    public static func problem(with text: String, policy: OutboundPolicy? = nil) -> String? {
        // RFC 3986 characters only: URLComponents lets some others (`{`, `|`, ...) through, and
        // such a URL is not one every HTTP client will send as given.
        let isURICharacter: (UInt8) -> Bool = { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default:
                "-._~:/?#[]@!$&'()*+,;=%".utf8.contains(byte)
            }
        }
        guard text.utf8.allSatisfy(isURICharacter),
            let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            let host = components.host, !host.isEmpty
        else {
            return "must be an absolute https URL"
        }
        guard components.user == nil, components.password == nil else { return "must not carry credentials" }
        if let port = components.port, !(1...65535).contains(port) { return "must have a port from 1 to 65535" }
        switch scheme {
        case "https":
            break
        case "http" where Self.isLoopback(host):
            break
        case "http":
            return "must be an https URL (http is accepted only for localhost, 127.0.0.0/8 and ::1)"
        default:
            return "must be an https URL"
        }
        guard let policy else { return nil }
        if let address = IPAddress(host) {
            if !policy.permits(address) { return Self.denied }
        } else if policy.deniesByName(host) {
            return Self.denied
        }
        return nil
    }

    /// What a URL the outbound policy refuses is told.
    public static let denied = "must not point at a loopback, private, link-local or metadata address (ROTOR_OUTBOUND_ALLOW can allow one)"

    static func isLoopback(_ host: String) -> Bool {
        let host = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if host == "localhost" || host == "::1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ UInt8($0) != nil && !$0.isEmpty }) else { return false }
        return octets[0] == "127"
    }
}
