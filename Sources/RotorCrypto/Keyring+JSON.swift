#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The keyring file format:
//
//     {
//       "active": "kek-20250101-ab12",
//       "keys": [
//         {"id": "kek-20250101-ab12", "key": "<standard base64 of 32 random bytes>"}
//       ]
//     }
//
// Unknown fields are ignored so later versions can add metadata without breaking older readers.
extension Keyring {
    private struct Document: Codable {
        var active: String
        var keys: [Entry]

        struct Entry: Codable {
            var id: String
            var key: String
        }
    }

    private static let expectedShape =
        #"expected {"active": "<key id>", "keys": [{"id": "<key id>", "key": "<base64 of 32 bytes>"}]}"#

    /// Parses keyring JSON (the `ROTOR_KEYRING_FILE` format).
    ///
    /// - Throws: ``CryptoError`` with code `invalidKeyring` saying what is wrong: invalid JSON, a
    ///   missing or mistyped field, an invalid or duplicate id, a key that is not base64 of 32
    ///   bytes, or an active id that is not among the keys. Messages name fields and ids, never
    ///   key values.
    public init(json: some Collection<UInt8>) throws {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(json))
        } catch let error as DecodingError {
            throw CryptoError.invalidKeyring(Self.describe(error))
        } catch {
            throw CryptoError.invalidKeyring("not valid JSON; \(Self.expectedShape)")
        }

        var keys: [KeyEncryptionKey] = []
        for (index, entry) in document.keys.enumerated() {
            guard Self.isValidKeyID(entry.id) else {
                // The invalid id is not echoed: a key pasted into the wrong field must not reach a log.
                throw CryptoError.invalidKeyring("keys[\(index)].id is invalid: \(Self.keyIDRule)")
            }
            let bytes = try Self.decodeKey(entry.key, what: "keys[\(index)].key (id '\(entry.id)')")
            keys.append(KeyEncryptionKey(validatedID: entry.id, bytes: bytes))
        }
        guard !document.active.isEmpty else {
            throw CryptoError.invalidKeyring("\"active\" is empty; it must name one of the keys")
        }
        try self.init(activeKeyID: document.active, keys: keys)
    }

    /// The keyring as pretty-printed JSON with sorted keys, in the format ``init(json:)`` reads.
    ///
    /// The result holds every key in clear: write it only to a file with mode 0600, which
    /// ``write(toFile:)`` does.
    public func jsonRepresentation() -> [UInt8] {
        let document = Document(
            active: activeKeyID,
            keys: keys.map { Document.Entry(id: $0.id, key: Data($0.bytes).base64EncodedString()) }
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(document)) + [UInt8(ascii: "\n")]
        } catch {
            // Strings and arrays of strings always encode; failing here is a Foundation bug.
            preconditionFailure("encoding a keyring to JSON failed: \(error)")
        }
    }

    /// Decodes standard base64 of exactly 32 bytes; `what` names the value in error messages.
    static func decodeKey(_ encoded: some StringProtocol, what: String) throws -> [UInt8] {
        guard let data = Data(base64Encoded: String(encoded)) else {
            throw CryptoError.invalidKeyring(
                "\(what) is not valid base64; it must be base64 of 32 random bytes (e.g. `openssl rand -base64 32`)"
            )
        }
        guard data.count == AES256GCM.keyByteCount else {
            throw CryptoError.invalidKeyring(
                "\(what) decodes to \(data.count) bytes; it must be base64 of exactly 32 bytes (e.g. `openssl rand -base64 32`)"
            )
        }
        return Array(data)
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return "not valid JSON; \(expectedShape)"
            }
            return "\(path(context.codingPath)) is invalid"
        case .keyNotFound(let key, let context):
            return "missing field \"\(path(context.codingPath + [key]))\"; \(expectedShape)"
        case .typeMismatch(let type, let context):
            let location = context.codingPath.isEmpty ? "the document" : "\"\(path(context.codingPath))\""
            return "\(location) must be \(typeName(type)); \(expectedShape)"
        case .valueNotFound(let type, let context):
            return "\"\(path(context.codingPath))\" must be \(typeName(type)), not null"
        @unknown default:
            return "not a keyring document; \(expectedShape)"
        }
    }

    private static func path(_ codingPath: [any CodingKey]) -> String {
        var result = ""
        for key in codingPath {
            if let index = key.intValue {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return result
    }

    private static func typeName(_ type: Any.Type) -> String {
        if type == String.self { return "a string" }
        if type is [Document.Entry].Type || type is [Any].Type { return "an array" }
        return "an object"
    }
}
