public import Foundation

/// An RFC 6901 JSON Pointer (`/api_key/id`, `/items/0`, `/a~1b` for the key `a/b`): where a
/// definition finds a value in a provider's JSON answer.
public struct JSONPointer: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The pointer as written.
    public let description: String
    /// The unescaped reference tokens.
    let tokens: [String]

    /// Parses `text`; nil unless it is empty or starts with `/`, with every `~` followed by 0 or 1.
    public init?(_ text: String) {
        guard text.isEmpty || text.hasPrefix("/") else { return nil }
        var tokens: [String] = []
        for raw in text.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            var token = ""
            var characters = raw.makeIterator()
            while let character = characters.next() {
                guard character == "~" else {
                    token.append(character)
                    continue
                }
                switch characters.next() {
                case "0": token.append("~")
                case "1": token.append("/")
                default: return nil
                }
            }
            tokens.append(token)
        }
        self.description = text
        self.tokens = tokens
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let pointer = JSONPointer(text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "\(Self.quoted(text)) is not a JSON Pointer (RFC 6901: empty or starting with \"/\", \"~\" only as ~0 or ~1)"
            )
        }
        self = pointer
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }

    /// The value at this pointer in `json` (as `JSONSerialization` reads it), or nil.
    func resolve(in json: Any) -> Any? {
        var current: Any = json
        for token in self.tokens {
            if let object = current as? [String: Any] {
                guard let next = object[token] else { return nil }
                current = next
            } else if let array = current as? [Any] {
                // RFC 6901: an index is digits without a leading zero.
                guard let index = Int(token), token == String(index), index >= 0, index < array.count else { return nil }
                current = array[index]
            } else {
                return nil
            }
        }
        return current is NSNull ? nil : current
    }

    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
