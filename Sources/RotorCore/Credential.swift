public import Foundation

/// Which provider a credential's keys live at: the name of a provider definition, built in
/// (`vultr`, `vultr-user`) or loaded from `ROTOR_PROVIDERS_DIR` (docs/providers.md). Which
/// names exist is the server's configuration, so any name parses; the API checks it against
/// the providers loaded.
public struct ProviderKind: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
    /// The definition's name.
    public let rawValue: String

    /// The provider named `rawValue`.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Vultr API keys, each managing its own user's keys.
    public static let vultr = ProviderKind(rawValue: "vultr")
    /// Vultr sub-users' API keys, managed through another credential's key.
    public static let vultrUser = ProviderKind(rawValue: "vultr-user")

    public var description: String { self.rawValue }

    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.rawValue)
    }
}

/// A credential's lifecycle state (DESIGN.md §4).
public enum CredentialState: String, Sendable, Hashable, Codable {
    /// In service; rotations may start.
    case active
    /// A rotation job is under way.
    case rotating
    /// A rotation could not finish safely; a human must look (the job's `error` says what).
    case attention
    /// Rotations are paused by an operator.
    case disabled
}

/// Public facts about one key at the provider. Never the key itself.
public struct KeyInfo: Sendable, Hashable, Codable {
    /// The provider's id for the key.
    public var providerKeyID: String
    /// `sha256:` + the first 12 hex digits of the key's SHA-256.
    public var fingerprint: String
    /// When Rotor learnt of or created the key.
    public var createdAt: Date
    /// When the provider will expire it, if ever.
    public var expiresAt: Date?

    /// Creates key facts.
    public init(providerKeyID: String, fingerprint: String, createdAt: Date, expiresAt: Date? = nil) {
        self.providerKeyID = providerKeyID
        self.fingerprint = fingerprint
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case providerKeyID = "provider_key_id"
        case fingerprint
        case createdAt = "created_at"
        case expiresAt = "expires_at"
    }
}

/// Where a credential's new key is delivered, and how its use is checked.
public struct Target: Sendable, Hashable, Codable {
    /// The kinds of target.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// A Standard-Webhooks-signed POST.
        case webhook
        /// Agent instances of a group (`rotor agent`) that fetch the key and acknowledge it.
        case agent
    }

    /// The target's id.
    public var id: TargetID
    /// Its kind.
    public var type: Kind
    /// Where deliveries go (webhook targets; empty for agent targets).
    public var url: String
    /// Answers 2xx once the consumer works with the new key; checked in `verify`.
    public var verifyURL: String?
    /// After its signing secret was rolled with an overlap: until when deliveries are also
    /// signed with the previous secret.
    public var previousSecretExpiresAt: Date?
    /// Agent targets: the group of agent instances that serve it.
    public var group: String?
    /// Agent targets: how many live instances must have acknowledged a new key (default 1).
    public var minLive: Int?
    /// Agent targets: how long `verify` waits for the acknowledgements (nil: the engine's default).
    public var verifyTimeout: ISODuration?

    /// Creates a webhook target.
    public init(id: TargetID, type: Kind = .webhook, url: String, verifyURL: String? = nil, previousSecretExpiresAt: Date? = nil) {
        self.id = id
        self.type = type
        self.url = url
        self.verifyURL = verifyURL
        self.previousSecretExpiresAt = previousSecretExpiresAt
    }

    /// Creates an agent target for `group`.
    public init(id: TargetID, agentGroup group: String, minLive: Int = 1, verifyTimeout: ISODuration? = nil) {
        self.init(id: id, type: .agent, url: "")
        self.group = group
        self.minLive = minLive
        self.verifyTimeout = verifyTimeout
    }

    /// Whether `name` can name an agent group: 1–64 of `[A-Za-z0-9._-]`, like a credential.
    public static func isValidGroup(_ name: String) -> Bool { Credential.isValidName(name) }

    enum CodingKeys: String, CodingKey {
        case id, type, url, group
        case verifyURL = "verify_url"
        case previousSecretExpiresAt = "previous_secret_expires_at"
        case minLive = "min_live"
        case verifyTimeout = "verify_timeout"
    }
}

/// When a credential rotates by itself.
public struct Schedule: Sendable, Hashable, Codable {
    /// Rotate this long after the last rotation.
    public var every: ISODuration?
    /// Rotate this long before the current key's provider expiry.
    public var beforeExpiry: ISODuration?

    /// Creates a schedule.
    public init(every: ISODuration? = nil, beforeExpiry: ISODuration? = nil) {
        self.every = every
        self.beforeExpiry = beforeExpiry
    }

    enum CodingKeys: String, CodingKey {
        case every
        case beforeExpiry = "before_expiry"
    }
}

/// A managed credential: metadata only. Its secrets (current and previous key, targets' signing
/// secrets) live encrypted in the store and travel separately as ``Secret`` values.
public struct Credential: Sendable, Hashable {
    /// The id.
    public var id: CredentialID
    /// Unique, 1–64 of `[A-Za-z0-9._-]`.
    public var name: String
    /// The provider.
    public var provider: ProviderKind
    /// The lifecycle state.
    public var state: CredentialState
    /// Increments each time a new key becomes current.
    public var version: Int
    /// The key consumers should use.
    public var current: KeyInfo
    /// The key before it, still valid until its job's `revoke`.
    public var previous: KeyInfo?
    /// Where new keys go.
    public var targets: [Target]
    /// When it rotates by itself.
    public var schedule: Schedule?
    /// The lifetime given to new keys at the provider.
    public var keyExpiry: ISODuration?
    /// Free-form labels.
    public var labels: [String: String]
    /// When the scheduler will next start a rotation.
    public var nextRotationAt: Date?
    /// When a rotation last succeeded.
    public var lastRotatedAt: Date?
    /// Creation time.
    public var createdAt: Date
    /// Last change.
    public var updatedAt: Date
    /// For a provider whose keys another key manages (`vultr-user`): the credential whose current
    /// key creates, lists and deletes this one's keys, read at each step.
    public var managerCredentialID: CredentialID?
    /// The user whose keys those are (Vultr: the sub-user's id); set with ``managerCredentialID``.
    public var subject: String?

    /// Creates a credential.
    public init(
        id: CredentialID,
        name: String,
        provider: ProviderKind,
        state: CredentialState = .active,
        version: Int = 1,
        current: KeyInfo,
        previous: KeyInfo? = nil,
        targets: [Target] = [],
        schedule: Schedule? = nil,
        keyExpiry: ISODuration? = nil,
        labels: [String: String] = [:],
        nextRotationAt: Date? = nil,
        lastRotatedAt: Date? = nil,
        createdAt: Date,
        updatedAt: Date,
        managerCredentialID: CredentialID? = nil,
        subject: String? = nil
    ) {
        self.id = id
        self.name = name
        self.provider = provider
        self.state = state
        self.version = version
        self.current = current
        self.previous = previous
        self.targets = targets
        self.schedule = schedule
        self.keyExpiry = keyExpiry
        self.labels = labels
        self.nextRotationAt = nextRotationAt
        self.lastRotatedAt = lastRotatedAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.managerCredentialID = managerCredentialID
        self.subject = subject
    }

    /// Whether `name` is 1–64 of `[A-Za-z0-9._-]`.
    public static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default:
                false
            }
        }
    }
}
