public import Foundation
public import RotorCrypto

/// GitHub's secret-scanning public keys, as published at
/// `https://api.github.com/meta/public_keys/secret_scanning`:
/// `{"public_keys": [{"key_identifier": "…", "key": "-----BEGIN PUBLIC KEY-----…", "is_current": true}]}`.
///
/// Every listed key verifies, current or not: GitHub names the key it signed with in
/// `Github-Public-Key-Identifier`, and keeps signing with an older one for a while after a rotation.
public struct GitHubKeySet: Sendable {
    /// Why a key file was refused.
    public struct LoadError: Error, Sendable, CustomStringConvertible {
        /// What is wrong, naming the entry.
        public var description: String
    }

    private struct Document: Decodable {
        struct Entry: Decodable {
            var keyIdentifier: String
            var key: String
            var isCurrent: Bool?

            enum CodingKeys: String, CodingKey {
                case keyIdentifier = "key_identifier"
                case key
                case isCurrent = "is_current"
            }
        }

        var publicKeys: [Entry]

        enum CodingKeys: String, CodingKey {
            case publicKeys = "public_keys"
        }
    }

    private let keys: [String: ECDSAP256PublicKey]

    /// The key identifiers, sorted.
    public var identifiers: [String] { self.keys.keys.sorted() }

    /// Parses GitHub's public-keys JSON. Every key must be a P-256 public key in PEM.
    public init(json: Data) throws(LoadError) {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: json)
        } catch {
            throw LoadError(description: "not GitHub's public-keys JSON ({\"public_keys\": [{\"key_identifier\", \"key\", \"is_current\"}]})")
        }
        guard !document.publicKeys.isEmpty else { throw LoadError(description: "public_keys is empty") }
        var keys: [String: ECDSAP256PublicKey] = [:]
        for (index, entry) in document.publicKeys.enumerated() {
            guard !entry.keyIdentifier.isEmpty else { throw LoadError(description: "public_keys[\(index)].key_identifier is empty") }
            do {
                keys[entry.keyIdentifier] = try ECDSAP256PublicKey(pem: entry.key)
            } catch {
                throw LoadError(description: "public_keys[\(index)].key is not a P-256 public key in PEM: \(error)")
            }
        }
        self.keys = keys
    }

    /// Reads and parses `path`.
    public static func load(fromFile path: String) throws(LoadError) -> GitHubKeySet {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LoadError(description: "cannot read \(path)")
        }
        return try GitHubKeySet(json: data)
    }

    /// The key GitHub names `identifier`, if listed.
    public func key(_ identifier: String) -> ECDSAP256PublicKey? {
        self.keys[identifier]
    }
}
