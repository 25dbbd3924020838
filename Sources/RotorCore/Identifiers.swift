/// An opaque, prefixed resource id (`cred_…`, `job_…`): the prefix says what it names, the rest
/// is 26 random base-32 characters (130 bits), so ids can be neither guessed nor enumerated.
public protocol PrefixedID: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// The prefix before the underscore, e.g. `cred`.
    static var prefix: String { get }
    /// The full id, e.g. `cred_0123456789abcdefghjkmnpqrs`.
    var rawValue: String { get }
    /// Wraps a value already known to be valid (from the store, or ``generate()``).
    init(unchecked rawValue: String)
}

extension PrefixedID {
    /// A fresh random id.
    public static func generate() -> Self {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array(idAlphabet.utf8)
        var text = Self.prefix + "_"
        for _ in 0..<26 {
            text.unicodeScalars.append(Unicode.Scalar(alphabet[Int(generator.next(upperBound: UInt(alphabet.count)))]))
        }
        return Self(unchecked: text)
    }

    /// Parses `text`, or nil when it lacks the prefix or has characters ids never contain.
    public init?(_ text: String) {
        let prefix = Self.prefix + "_"
        guard text.hasPrefix(prefix), text.utf8.count > prefix.utf8.count, text.utf8.count <= 64,
            text.utf8.dropFirst(prefix.utf8.count).allSatisfy(isIDCharacter)
        else { return nil }
        self.init(unchecked: text)
    }

    public var description: String { self.rawValue }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = Self(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "must be an id starting with \(Self.prefix)_")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.rawValue)
    }
}

/// Crockford's base 32 in lower case: no i, l, o or u to misread.
let idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

/// Whether each byte is in ``idAlphabet``: a table made from it once, so that checking an id
/// a request names costs no search of the alphabet per character.
private let idCharacters: [Bool] = (0...255).map { idAlphabet.utf8.contains(UInt8($0)) }

private func isIDCharacter(_ byte: UInt8) -> Bool { idCharacters[Int(byte)] }

/// A managed credential (`cred_…`).
public struct CredentialID: PrefixedID {
    public static let prefix = "cred"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}

/// A rotation job (`job_…`).
public struct JobID: PrefixedID {
    public static let prefix = "job"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}

/// A consumer of a credential's key (`tgt_…`).
public struct TargetID: PrefixedID {
    public static let prefix = "tgt"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}

/// An inbound webhook trigger (`trg_…`).
public struct TriggerID: PrefixedID {
    public static let prefix = "trg"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}
