public import RotorCore
public import RotorCrypto

/// One envelope as stored.
public struct StoredEnvelope: Sendable {
    public var owner: String
    public var field: String
    public var version: Int
    public var bytes: [UInt8]

    public init(owner: String, field: String, version: Int, bytes: [UInt8]) {
        self.owner = owner
        self.field = field
        self.version = version
        self.bytes = bytes
    }

    /// Reads the `owner_id`, `field`, `version` and `envelope` columns.
    package init(_ row: some StoredRow, bytes: [UInt8]) throws {
        self.init(owner: try row.string("owner_id"), field: try row.string("field"), version: try row.int("version"), bytes: bytes)
    }
}

/// What one batch of a keyring rotation's rewrap does, decided before any write: each envelope
/// re-wrapped under the active key (or why it could not be), and where the next batch starts.
/// A driver reads the batch, makes this plan outside any transaction, then writes each new
/// envelope with a compare-and-set on the old bytes, counting those that changed meanwhile.
package struct EnvelopeRewrapPlan: Sendable {
    /// Each envelope with its replacement.
    package var rewraps: [(stored: StoredEnvelope, new: [UInt8])] = []
    /// Those that did not open.
    package var failures: [EnvelopeFailure] = []
    /// Where the next batch starts; nil when this one was the last.
    package var next: EnvelopeCursor?

    /// Plans the batch `rows` (read in (owner, field) order, at most `limit`).
    package init(_ rows: [StoredEnvelope], limit: Int, keyring: Keyring) {
        for stored in rows {
            do {
                let rewrapped = try Envelope.rewrap(
                    stored.bytes, context: EnvelopeContext(recordID: stored.owner, field: stored.field, version: stored.version), keyring: keyring)
                self.rewraps.append((stored, rewrapped))
            } catch {
                self.failures.append(EnvelopeFailure(owner: stored.owner, field: stored.field, reason: String(describing: error)))
            }
        }
        self.next = rows.count == limit ? rows.last.map { EnvelopeCursor(owner: $0.owner, field: $0.field) } : nil
    }

    /// The batch's result once the writes are done, `changedConcurrently` of them refused.
    package func result(changedConcurrently: Int) -> EnvelopeRewrapBatch {
        EnvelopeRewrapBatch(
            rewrapped: self.rewraps.count - changedConcurrently, changedConcurrently: changedConcurrently, failures: self.failures, next: self.next)
    }
}

/// Opens each envelope of a batch (and forgets the plaintext at once): how `rotor keyring
/// verify` proves every secret still opens, on either driver.
package struct EnvelopeCheck: Sendable {
    /// How many opened.
    package var opened = 0
    /// Those that did not.
    package var failures: [EnvelopeFailure] = []

    package init(_ rows: [StoredEnvelope], keyring: Keyring) {
        for stored in rows {
            do {
                var plaintext = try Envelope.open(
                    stored.bytes, context: EnvelopeContext(recordID: stored.owner, field: stored.field, version: stored.version), keyring: keyring)
                _ = plaintext.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
                self.opened += 1
            } catch {
                self.failures.append(EnvelopeFailure(owner: stored.owner, field: stored.field, reason: String(describing: error)))
            }
        }
    }
}

/// The two things a driver does for the keyring's envelope work; the rest — planning a batch,
/// the compare-and-set count, walking every envelope — is here, once.
public protocol EnvelopeStoreDriver: EnvelopeKeyStore {
    /// The keyring the driver seals with.
    var keyring: Keyring { get }
    /// Up to `limit` envelopes in (owner, field) order after `cursor`: those under the KEK
    /// `keyID`, or every non-empty one when `keyID` is nil.
    func storedEnvelopes(under keyID: String?, after cursor: EnvelopeCursor?, limit: Int) async throws -> [StoredEnvelope]
    /// Writes each re-wrapped envelope in one transaction, each with a compare-and-set on the
    /// bytes it replaces (a secret rotated, cleared or re-sealed meanwhile keeps its newer
    /// value); returns how many were refused so.
    func writeRewraps(_ rewraps: [(stored: StoredEnvelope, new: [UInt8])]) async throws -> Int
}

extension EnvelopeStoreDriver {
    /// The keyring's active KEK id.
    public var activeEnvelopeKeyID: String { self.keyring.activeKeyID }

    /// The keyring's KEK ids.
    public var envelopeKeyIDs: [String] { self.keyring.keyIDs }

    /// One batch of a keyring rotation: read, re-wrapped outside any transaction, written back.
    public func rewrapEnvelopes(under keyID: String, after cursor: EnvelopeCursor?, limit: Int) async throws -> EnvelopeRewrapBatch {
        try await self.rewrapEnvelopes(under: keyID, after: cursor, limit: limit, beforeWrite: {})
    }

    /// Opens every envelope, 500 at a time in (owner, field) order.
    public func verifyEnvelopes() async throws -> EnvelopeVerification {
        try await self.verifyEveryEnvelope()
    }

    /// One batch of a keyring rotation: read, re-wrapped outside any transaction, written back.
    /// `beforeWrite` runs between the read and the write, so tests can change a secret then.
    package func rewrapEnvelopes(
        under keyID: String, after cursor: EnvelopeCursor?, limit: Int, beforeWrite: @Sendable () async throws -> Void
    ) async throws -> EnvelopeRewrapBatch {
        precondition(limit > 0)
        guard keyID != self.keyring.activeKeyID else {
            return EnvelopeRewrapBatch(rewrapped: 0, changedConcurrently: 0, failures: [], next: nil)
        }
        let plan = EnvelopeRewrapPlan(try await self.storedEnvelopes(under: keyID, after: cursor, limit: limit), limit: limit, keyring: self.keyring)
        try await beforeWrite()
        let changed = plan.rewraps.isEmpty ? 0 : try await self.writeRewraps(plan.rewraps)
        return plan.result(changedConcurrently: changed)
    }

    private func verifyEveryEnvelope() async throws -> EnvelopeVerification {
        var result = EnvelopeVerification(opened: 0, failures: [])
        var cursor: EnvelopeCursor?
        while true {
            let rows = try await self.storedEnvelopes(under: nil, after: cursor, limit: 500)
            let check = EnvelopeCheck(rows, keyring: self.keyring)
            result.opened += check.opened
            result.failures += check.failures
            guard let last = rows.last else { return result }
            cursor = EnvelopeCursor(owner: last.owner, field: last.field)
        }
    }
}
