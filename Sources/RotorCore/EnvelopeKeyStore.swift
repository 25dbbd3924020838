/// Where a pass over stored envelopes stands: the (owner, field) of the last envelope it looked at.
///
/// Envelopes are visited in (owner, field) order, so a pass resumes after this key.
public struct EnvelopeCursor: Sendable, Hashable {
    /// The id of the record that owns the secret (a credential, job or subscription id).
    public var owner: String
    /// The secret's field within its owner, e.g. `current_key`.
    public var field: String

    /// A cursor after the envelope of (`owner`, `field`).
    public init(owner: String, field: String) {
        self.owner = owner
        self.field = field
    }
}

/// A stored envelope that could not be opened or re-wrapped. Names where it lives and why, never
/// any of its bytes.
public struct EnvelopeFailure: Sendable, Hashable, CustomStringConvertible {
    /// The id of the record that owns the secret.
    public var owner: String
    /// The secret's field within its owner.
    public var field: String
    /// Why, e.g. `authentication failed` or `unknown key-encryption key 'kek-old'`.
    public var reason: String

    /// A failure of the envelope at (`owner`, `field`).
    public init(owner: String, field: String, reason: String) {
        self.owner = owner
        self.field = field
        self.reason = reason
    }

    /// `<owner> <field>: <reason>`.
    public var description: String { "\(owner) \(field): \(reason)" }
}

/// What one ``EnvelopeKeyStore/rewrapEnvelopes(under:after:limit:)`` batch did.
public struct EnvelopeRewrapBatch: Sendable, Hashable {
    /// Envelopes now under the active KEK.
    public var rewrapped: Int
    /// Envelopes that changed between being read and being written back, so were left as the
    /// concurrent writer stored them; a later pass takes them if they still need it.
    public var changedConcurrently: Int
    /// Envelopes that could not be re-wrapped (their KEK rejected them), left unchanged.
    public var failures: [EnvelopeFailure]
    /// Where the next batch continues; `nil` once no envelope under the key is left after this one.
    public var next: EnvelopeCursor?

    /// A batch's outcome.
    public init(rewrapped: Int, changedConcurrently: Int, failures: [EnvelopeFailure], next: EnvelopeCursor?) {
        self.rewrapped = rewrapped
        self.changedConcurrently = changedConcurrently
        self.failures = failures
        self.next = next
    }
}

/// What a full ``EnvelopeKeyStore/verifyEnvelopes()`` pass found.
public struct EnvelopeVerification: Sendable, Hashable {
    /// Envelopes that opened with the store's keyring.
    public var opened: Int
    /// Envelopes that did not.
    public var failures: [EnvelopeFailure]

    /// A verification result.
    public init(opened: Int, failures: [EnvelopeFailure]) {
        self.opened = opened
        self.failures = failures
    }
}

/// A store's view of its secrets' envelopes by key-encryption key (KEK), for rotating the
/// keyring (DESIGN.md §3, `rotor keyring`). Apart from ``Store`` so that stores grow by concern.
///
/// The store seals with its keyring's active KEK; these methods find envelopes still under other
/// KEKs and move them, without ever returning plaintext.
public protocol EnvelopeKeyStore: Sendable {
    /// The id of the KEK new envelopes are sealed under (the keyring's active key).
    var activeEnvelopeKeyID: String { get }

    /// The ids of the keys the store's keyring holds.
    var envelopeKeyIDs: [String] { get }

    /// How many stored envelopes name each KEK id, read from the envelopes' headers without
    /// decrypting anything. An envelope whose header names no valid id counts under `""`.
    func envelopeCountsByKeyID() async throws -> [String: Int]

    /// Re-wraps, under the active KEK, up to `limit` envelopes that name `keyID`, in
    /// (owner, field) order after `cursor`.
    ///
    /// Each envelope is written back only if it still equals what was read, so a secret changed
    /// meanwhile is never overwritten by an older value. Each batch is its own short transaction:
    /// interrupting between batches loses nothing, and a new pass finds only what is left.
    func rewrapEnvelopes(under keyID: String, after cursor: EnvelopeCursor?, limit: Int) async throws -> EnvelopeRewrapBatch

    /// Opens every stored envelope (value included) and reports those that do not open.
    func verifyEnvelopes() async throws -> EnvelopeVerification
}

extension EnvelopeKeyStore {
    /// The KEK ids that stored envelopes name but the keyring lacks, sorted: if any, some
    /// secrets cannot be opened with this keyring.
    public func missingEnvelopeKeyIDs() async throws -> [String] {
        let known = Set(self.envelopeKeyIDs)
        return try await self.envelopeCountsByKeyID().keys.filter { !known.contains($0) }.sorted()
    }
}
