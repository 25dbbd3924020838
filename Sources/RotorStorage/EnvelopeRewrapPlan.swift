package import RotorCore
package import RotorCrypto

/// One envelope as stored.
package struct StoredEnvelope: Sendable {
    package var owner: String
    package var field: String
    package var version: Int
    package var bytes: [UInt8]

    package init(owner: String, field: String, version: Int, bytes: [UInt8]) {
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
                plaintext.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
                self.opened += 1
            } catch {
                self.failures.append(EnvelopeFailure(owner: stored.owner, field: stored.field, reason: String(describing: error)))
            }
        }
    }
}
