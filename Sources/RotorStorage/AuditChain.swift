package import Foundation
package import RotorCore
package import RotorCrypto

/// The audit log's hash chain and its checkpoints: the format both drivers write and verify,
/// kept here once (a chain written by one store must verify with the other's code).
package enum AuditChain {
    /// The hash before the first entry.
    package static let genesisHash = String(repeating: "0", count: 64)

    /// SHA-256 (hex) over the entry's fields and the previous hash, each as `<UTF-8 length>:<bytes>;`
    /// (a netstring-like encoding: no field's content can be mistaken for a boundary).
    package static func hash(seq: Int, at: String, actor: String, action: String, resource: String, outcome: String, previous: String) -> String {
        var bytes: [UInt8] = []
        for field in [String(seq), at, actor, action, resource, outcome, previous] {
            bytes += Array("\(field.utf8.count):".utf8)
            bytes += Array(field.utf8)
            bytes.append(UInt8(ascii: ";"))
        }
        return SHA256.hexDigest(bytes)
    }

    /// RFC 3339 UTC with milliseconds, the form the API shows and the hash covers.
    package static func time(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!))
    }

    /// A checkpoint of entry `seq` with `hash`, signed under `keyring`'s active key.
    package static func signCheckpoint(seq: Int, hash: String, at now: Date, keyring: Keyring) throws -> AuditCheckpoint {
        let signedAt = AuditCheckpoint.time(now)
        let keyID = keyring.activeKeyID
        let mac = try keyring.derivedAuthenticationCode(
            keyID: keyID, purpose: AuditCheckpoint.macPurpose,
            message: AuditCheckpoint.signedBytes(seq: seq, hash: hash, signedAt: signedAt, keyID: keyID))
        return AuditCheckpoint(seq: seq, hash: hash, signedAt: signedAt, keyID: keyID, mac: mac.hexString)
    }

    /// Walks the log's rows in `seq` order from the genesis hash, holding each against
    /// `checkpoints`: the drivers only fetch the rows.
    package struct Verifier {
        private var matcher: AuditCheckpointMatcher
        private var previous = AuditChain.genesisHash
        private var expectedSeq = 1

        package init(checkpoints: [AuditCheckpoint]) {
            self.matcher = AuditCheckpointMatcher(checkpoints)
        }

        /// Checks the next row; a verdict once the chain is broken there, nil while it holds.
        package mutating func visit(_ row: some StoredRow) throws -> AuditVerification? {
            let seq = try row.int("seq")
            guard seq == self.expectedSeq else {
                return .broken(seq: seq, reason: "expected entry \(self.expectedSeq) here: an entry is missing")
            }
            let stored = try row.string("hash")
            let computed = AuditChain.hash(
                seq: seq, at: try row.string("at"), actor: try row.string("actor"), action: try row.string("action"),
                resource: try row.string("resource"), outcome: try row.string("outcome"), previous: self.previous)
            guard computed == stored else {
                return .broken(seq: seq, reason: "its hash does not match its content and the previous entry's hash")
            }
            self.matcher.visit(seq: seq, hash: stored)
            self.previous = stored
            self.expectedSeq += 1
            return nil
        }

        /// The verdict after the last row.
        package func verdict() -> AuditVerification {
            self.matcher.verdict(intactCount: self.expectedSeq - 1)
        }
    }
}
