public import Foundation

/// A signed statement that the audit log's entry `seq` had `hash` when it was signed
/// (`GET /v1/audit`'s `checkpoint`, the `audit.checkpoint` event, the server's log).
///
/// The chain's hashes alone cannot show a cut tail: delete the newest entries and what is left is
/// still a valid chain. A checkpoint kept away from the database can: its `hash` covers every entry
/// up to `seq`, so the log must still reach `seq` and end there in that hash. Its `mac` is an
/// HMAC-SHA256 under a key derived from the keyring's key `key_id` (``macPurpose``), so someone
/// who can write to the database but has no keyring cannot make one up.
public struct AuditCheckpoint: Sendable, Hashable, Codable {
    /// The entry signed: the log's newest when the checkpoint was made.
    public var seq: Int
    /// That entry's hash (lower-case hex SHA-256), which covers every entry before it.
    public var hash: String
    /// When it was signed: RFC 3339 UTC with milliseconds, the exact text the MAC covers.
    public var signedAt: String
    /// The id of the keyring key the MAC key was derived from.
    public var keyID: String
    /// Lower-case hex HMAC-SHA256 over ``signedBytes``.
    public var mac: String

    /// The label the MAC key is derived with: the checkpoint key is never the key-encryption key
    /// itself, and no other use of the keyring derives this one.
    public static let macPurpose = "rotor audit checkpoint v1"

    /// Creates a checkpoint from its fields (as signed, stored or received).
    public init(seq: Int, hash: String, signedAt: String, keyID: String, mac: String) {
        self.seq = seq
        self.hash = hash
        self.signedAt = signedAt
        self.keyID = keyID
        self.mac = mac
    }

    /// The bytes the MAC covers: the purpose and each field as `<UTF-8 length>:<bytes>;`, the audit
    /// chain's encoding, so no field's content can be mistaken for a boundary.
    public static func signedBytes(seq: Int, hash: String, signedAt: String, keyID: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for field in [Self.macPurpose, String(seq), hash, signedAt, keyID] {
            bytes += Array("\(field.utf8.count):".utf8)
            bytes += Array(field.utf8)
            bytes.append(UInt8(ascii: ";"))
        }
        return bytes
    }

    /// This checkpoint's ``signedBytes(seq:hash:signedAt:keyID:)``.
    public var signedBytes: [UInt8] {
        Self.signedBytes(seq: self.seq, hash: self.hash, signedAt: self.signedAt, keyID: self.keyID)
    }

    /// RFC 3339 UTC with milliseconds: the form `signed_at` takes.
    public static func time(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!))
    }

    enum CodingKeys: String, CodingKey {
        case seq, hash, mac
        case signedAt = "signed_at"
        case keyID = "key_id"
    }

    /// Decodes and checks the form of each field (a checkpoint read from a file is untrusted).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.seq = try container.decode(Int.self, forKey: .seq)
        self.hash = try container.decode(String.self, forKey: .hash)
        self.signedAt = try container.decode(String.self, forKey: .signedAt)
        self.keyID = try container.decode(String.self, forKey: .keyID)
        self.mac = try container.decode(String.self, forKey: .mac)
        func isHex64(_ text: String) -> Bool {
            text.utf8.count == 64 && text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
        }
        guard self.seq >= 1 else {
            throw DecodingError.dataCorruptedError(forKey: .seq, in: container, debugDescription: "seq must be 1 or more")
        }
        guard isHex64(self.hash) else {
            throw DecodingError.dataCorruptedError(forKey: .hash, in: container, debugDescription: "hash must be 64 lower-case hex digits")
        }
        guard isHex64(self.mac) else {
            throw DecodingError.dataCorruptedError(forKey: .mac, in: container, debugDescription: "mac must be 64 lower-case hex digits")
        }
        guard !self.keyID.isEmpty, !self.signedAt.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .keyID, in: container, debugDescription: "key_id and signed_at must not be empty")
        }
    }
}

/// Holds checkpoints against the audit chain while a store walks it: every checkpoint's entry
/// must still be there, with the checkpoint's hash. Both stores' walks use it, so the rule and
/// its messages exist once.
public struct AuditCheckpointMatcher: Sendable {
    private let checkpoints: [AuditCheckpoint]
    private let wanted: Set<Int>
    private var seen: [Int: String] = [:]

    /// Matches `checkpoints` (stored ones and any the caller brings).
    public init(_ checkpoints: [AuditCheckpoint]) {
        self.checkpoints = checkpoints.sorted { $0.seq < $1.seq }
        self.wanted = Set(checkpoints.map(\.seq))
    }

    /// Records an entry of the chain, in order, once its own hash has been checked.
    public mutating func visit(seq: Int, hash: String) {
        if self.wanted.contains(seq) { self.seen[seq] = hash }
    }

    /// The verdict on a chain found intact with `count` entries: the lowest checkpoint the log
    /// no longer matches, or intact.
    public func verdict(intactCount count: Int) -> AuditVerification {
        for checkpoint in self.checkpoints {
            guard checkpoint.seq <= count else {
                let removed = count + 1 == checkpoint.seq ? "entry \(checkpoint.seq) was" : "entries \(count + 1) to \(checkpoint.seq) were"
                return .broken(
                    seq: count + 1,
                    reason: "the log ends at entry \(count), but the checkpoint signed at \(checkpoint.signedAt) covers entry \(checkpoint.seq): \(removed) removed (the tail was cut)")
            }
            if self.seen[checkpoint.seq] != checkpoint.hash {
                return .broken(
                    seq: checkpoint.seq,
                    reason: "its hash differs from the checkpoint signed at \(checkpoint.signedAt): entries at or before the checkpoint were removed or altered")
            }
        }
        return .intact(count: count)
    }
}
