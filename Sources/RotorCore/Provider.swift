public import Foundation

/// A key as a provider lists it: never the key itself, only its masked suffix.
public struct ProviderKey: Sendable, Hashable {
    /// The provider's id.
    public var id: String
    /// The name given at creation.
    public var name: String
    /// The visible tail of the masked key (Vultr shows the last 5 characters).
    public var visibleSuffix: String
    /// When it was created, if the provider says.
    public var createdAt: Date?
    /// When it expires, if ever.
    public var expiresAt: Date?

    /// Creates a listed key.
    public init(id: String, name: String, visibleSuffix: String, createdAt: Date? = nil, expiresAt: Date? = nil) {
        self.id = id
        self.name = name
        self.visibleSuffix = visibleSuffix
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

extension ProviderKey {
    /// Whether this listed key may be `secret`: its visible (unmasked) tail ends the secret.
    /// Several keys can match; callers must treat more than one match as ambiguous.
    public func matches(_ secret: Secret) -> Bool {
        let suffix = secret.suffix(5)
        return !self.visibleSuffix.isEmpty && suffix.hasSuffix(self.visibleSuffix) && self.visibleSuffix.count >= min(5, suffix.count)
    }
}

/// Which listed key a secret is, found by its visible suffix (the listing never shows more).
public enum KeyResolution: Sendable, Hashable {
    /// Exactly one key matches: its id.
    case found(ProviderKey)
    /// None does.
    case notFound
    /// Several end like the secret; the caller must name the key's id.
    case ambiguous([String])

    /// Resolves `secret` among `keys`.
    public init(of secret: Secret, in keys: [ProviderKey]) {
        let matches = keys.filter { $0.matches(secret) }
        switch matches.count {
        case 1: self = .found(matches[0])
        case 0: self = .notFound
        default: self = .ambiguous(matches.map(\.id))
        }
    }
}

/// A key just created: the one moment its plaintext exists outside the provider.
public struct CreatedKey: Sendable {
    /// The key's listing facts.
    public var key: ProviderKey
    /// The plaintext, to be encrypted and committed at once (rule 2).
    public var secret: Secret

    /// Creates the pair.
    public init(key: ProviderKey, secret: Secret) {
        self.key = key
        self.secret = secret
    }
}

/// A provider call that failed, classified as DESIGN.md §2 rule 5 requires.
public struct ProviderError: Error, Sendable, Hashable, CustomStringConvertible {
    /// How the engine must treat the failure.
    public enum Kind: Sendable, Hashable {
        /// Connect/timeout errors, 5xx, 429: retry with backoff (after `retryAfter` when given).
        case transient(retryAfter: Duration?)
        /// 400, 401, 403, 422 and the like: end the step at once.
        case permanent
    }

    /// How to treat it.
    public var kind: Kind
    /// The HTTP status, when there was an answer.
    public var status: Int?
    /// What happened, in the provider's words where safe. Never carries a key.
    public var message: String

    /// Creates an error.
    public init(_ kind: Kind, status: Int? = nil, message: String) {
        self.kind = kind
        self.status = status
        self.message = message
    }

    /// The classification of an HTTP status from a provider (rule 5). 404 is not listed: its
    /// meaning depends on the call (`revoke` treats it as already gone).
    public static func classify(status: Int, retryAfter: Duration? = nil, message: String) -> ProviderError {
        switch status {
        case 429, 500...599, 408:
            ProviderError(.transient(retryAfter: retryAfter), status: status, message: message)
        default:
            ProviderError(.permanent, status: status, message: message)
        }
    }

    /// Whether retrying may help.
    public var isTransient: Bool {
        if case .transient = self.kind { return true }
        return false
    }

    /// `HTTP 401: Invalid API token.` or the message alone.
    public var description: String {
        self.status.map { "HTTP \($0): \(self.message)" } ?? self.message
    }
}

/// A key provider (Vultr first): the calls the rotation protocol makes.
public protocol Provider: Sendable {
    /// Which provider this is.
    var kind: ProviderKind { get }
    /// Succeeds when `key` authenticates (Vultr: `GET /v2/account`).
    func verify(key: Secret) async throws(ProviderError)
    /// Creates a key named `name`, authenticating with `key`.
    func createKey(name: String, expiresAt: Date?, using key: Secret) async throws(ProviderError) -> CreatedKey
    /// Every key of the user `key` belongs to, following pages.
    func listKeys(using key: Secret) async throws(ProviderError) -> [ProviderKey]
    /// Deletes key `id`; a key that is already gone counts as deleted.
    func deleteKey(id: String, using key: Secret) async throws(ProviderError)
    /// For a provider whose keys another key manages: the calls for `subject`'s keys (see the
    /// default implementation below).
    func managing(subject: String, with managerKey: Secret) -> (any Provider)?
    /// Whether keys at this provider are managed through a manager credential's key.
    var isManagedThroughManager: Bool { get }
}

extension Provider {
    /// For a provider whose keys another key manages (a definition with `management: manager`,
    /// such as `vultr-user`): the calls for `subject`'s keys, with create, list and delete
    /// authenticated by `managerKey` and `verify` by the key it is given. Nil for a provider whose
    /// keys manage themselves, which is every provider that does not say otherwise.
    public func managing(subject: String, with managerKey: Secret) -> (any Provider)? { nil }

    /// Whether keys at this provider are managed through a manager credential's key.
    public var isManagedThroughManager: Bool { false }
}

/// The calls for one managed user's keys: create, list and delete authenticate with the manager's
/// key, whatever key the engine passes (the managed key cannot manage keys); `verify` checks the
/// key it is given, since a new key must prove that it works by itself.
public struct ManagerKeyedProvider: Provider {
    /// The provider scoped to the managed user.
    public let base: any Provider
    private let managerKey: Secret

    /// Calls `base` with `managerKey` for every call but `verify`.
    public init(_ base: any Provider, managerKey: Secret) {
        self.base = base
        self.managerKey = managerKey
    }

    public var kind: ProviderKind { self.base.kind }

    public func verify(key: Secret) async throws(ProviderError) {
        try await self.base.verify(key: key)
    }

    public func createKey(name: String, expiresAt: Date?, using _: Secret) async throws(ProviderError) -> CreatedKey {
        try await self.base.createKey(name: name, expiresAt: expiresAt, using: self.managerKey)
    }

    public func listKeys(using _: Secret) async throws(ProviderError) -> [ProviderKey] {
        try await self.base.listKeys(using: self.managerKey)
    }

    public func deleteKey(id: String, using _: Secret) async throws(ProviderError) {
        try await self.base.deleteKey(id: id, using: self.managerKey)
    }
}
