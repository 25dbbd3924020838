#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The set of key-encryption keys (KEKs) that protect Rotor's secrets at rest.
///
/// New envelopes are sealed under the active key; older keys stay in the ring so envelopes that
/// name them still open until `rotor keyring rewrap` has moved every data key to the active one.
/// A keyring is loaded from `ROTOR_KEYRING_FILE` (``load(fromFile:)``) or `ROTOR_MASTER_KEY`
/// (``init(masterKeyBase64:)``). Its `description` and mirror show key ids only.
public struct Keyring: Sendable {
    /// The id of the key new envelopes are sealed under.
    public let activeKeyID: String

    /// Keys in the order of the keyring file; few enough that a linear search is fastest.
    let keys: [KeyEncryptionKey]

    /// The ids of every key in the ring, in file order.
    public var keyIDs: [String] { keys.map(\.id) }

    /// The key new envelopes are sealed under. Always present: every initialiser checks it.
    var activeKey: KeyEncryptionKey {
        guard let key = key(id: activeKeyID) else {
            preconditionFailure("Keyring invariant broken: active key '\(activeKeyID)' is missing")
        }
        return key
    }

    /// The key with `id`, or `nil` if the ring does not hold it.
    public func key(id: String) -> KeyEncryptionKey? {
        keys.first { $0.id == id }
    }

    /// Checks the invariants every public initialiser promises: at least one key, unique ids,
    /// and an active id among them.
    init(activeKeyID: String, keys: [KeyEncryptionKey]) throws {
        guard !keys.isEmpty else { throw CryptoError.invalidKeyring("the keyring has no keys") }
        var seen: Set<String> = []
        for key in keys where !seen.insert(key.id).inserted {
            throw CryptoError.invalidKeyring("duplicate key id '\(key.id)'")
        }
        guard seen.contains(activeKeyID) else {
            let active = Self.isValidKeyID(activeKeyID) ? "'\(activeKeyID)'" : "(an invalid id)"
            throw CryptoError.invalidKeyring(
                "active key id \(active) is not among the keys (\(keys.map { "'\($0.id)'" }.joined(separator: ", ")))"
            )
        }
        self.activeKeyID = activeKeyID
        self.keys = keys
    }

    /// A keyring holding the single key `ROTOR_MASTER_KEY` carries, with id `master`.
    ///
    /// Leading and trailing whitespace is ignored, since values read from files or pasted into
    /// environment files often end in a newline.
    ///
    /// - Throws: ``CryptoError`` with code `invalidKeyring` if `masterKeyBase64` is not base64 of
    ///   exactly 32 bytes. The message never repeats the value.
    public init(masterKeyBase64: String) throws {
        let bytes = try Self.decodeKey(
            masterKeyBase64.trimmingASCIIWhitespace(),
            what: "the master key"
        )
        try self.init(
            activeKeyID: Self.masterKeyID, keys: [KeyEncryptionKey(validatedID: Self.masterKeyID, bytes: bytes)])
    }

    /// A new keyring with one freshly generated key, which is active.
    ///
    /// - Parameter id: the key's id; `nil` makes `kek-<yyyyMMdd>-<4 hex digits>` (UTC date).
    ///   Must satisfy ``isValidKeyID(_:)``: passing an invalid id is a programming error and
    ///   traps, so validate ids that come from users first.
    public static func generate(id: String? = nil) -> Keyring {
        let key = generateKey(id: id ?? defaultKeyID())
        return Keyring(validatedActiveKeyID: key.id, keys: [key])
    }

    /// A freshly generated 32-byte key with `id`, to be added with ``adding(_:makeActive:)``.
    ///
    /// `id` must satisfy ``isValidKeyID(_:)``; an invalid id is a programming error and traps.
    public static func generateKey(id: String) -> KeyEncryptionKey {
        precondition(isValidKeyID(id), "invalid key-encryption key id: \(keyIDRule)")
        return KeyEncryptionKey(validatedID: id, bytes: SecureRandom.bytes(count: AES256GCM.keyByteCount))
    }

    /// This keyring with `key` added, and made active if `makeActive`.
    ///
    /// - Throws: ``CryptoError`` with code `invalidKeyring` if the ring already has a key with
    ///   that id.
    public func adding(_ key: KeyEncryptionKey, makeActive: Bool) throws -> Keyring {
        guard self.key(id: key.id) == nil else {
            throw CryptoError.invalidKeyring("the keyring already has a key with id '\(key.id)'")
        }
        return try Keyring(activeKeyID: makeActive ? key.id : activeKeyID, keys: keys + [key])
    }

    /// This keyring without the key `id`.
    ///
    /// Remove a key only after rewrapping: envelopes that still name it can no longer be opened.
    ///
    /// - Throws: ``CryptoError`` with code `unknownKey` if there is no such key, or
    ///   `invalidKeyring` if it is the active key.
    public func removing(id: String) throws -> Keyring {
        guard key(id: id) != nil else { throw CryptoError.unknownKey(id) }
        guard id != activeKeyID else {
            throw CryptoError.invalidKeyring("cannot remove the active key '\(id)'; make another key active first")
        }
        return try Keyring(activeKeyID: activeKeyID, keys: keys.filter { $0.id != id })
    }

    /// Whether `id` is a valid key-encryption key id: 1–64 characters of `[A-Za-z0-9._-]`.
    ///
    /// Ids are written into every envelope (with a one-byte length) and into error messages, so
    /// they are short and need no escaping.
    public static func isValidKeyID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard (1...maxKeyIDLength).contains(bytes.count) else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default:
                false
            }
        }
    }

    static let maxKeyIDLength = 64
    static let keyIDRule = "ids are 1–64 characters of A-Z, a-z, 0-9, '.', '_' and '-'"
    static let masterKeyID = "master"

    private init(validatedActiveKeyID: String, keys: [KeyEncryptionKey]) {
        self.activeKeyID = validatedActiveKeyID
        self.keys = keys
    }

    private static func defaultKeyID() -> String {
        var now = time(nil)
        var calendar = tm()
        gmtime_r(&now, &calendar)
        let year = Int(calendar.tm_year) + 1900
        let month = Int(calendar.tm_mon) + 1
        let day = Int(calendar.tm_mday)
        let date = String(year) + twoDigits(month) + twoDigits(day)
        return "kek-\(date)-\(SecureRandom.bytes(count: 2).hexString)"
    }

    private static func twoDigits(_ value: Int) -> String {
        value < 10 ? "0\(value)" : String(value)
    }
}

extension Keyring: CustomStringConvertible, CustomReflectable {
    /// Key ids only; key bytes are never shown.
    public var description: String {
        "Keyring(active: \(activeKeyID), keys: [\(keyIDs.joined(separator: ", "))])"
    }

    /// A mirror showing key ids only, so `dump` cannot print key material.
    public var customMirror: Mirror {
        Mirror(self, children: ["activeKeyID": activeKeyID, "keyIDs": keyIDs], displayStyle: .struct)
    }
}

extension String {
    fileprivate func trimmingASCIIWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return self[start...end]
    }
}
