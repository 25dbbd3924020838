import ChildProcess
import Foundation
import RotorAPI

/// A P-256 key pair made by the `openssl` command-line tool, signing as GitHub secret scanning
/// does (`openssl dgst -sha256 -sign`, DER, base64): an implementation independent of Rotor's.
struct GitHubSigner: Sendable {
    /// The directory holding `key.pem`; removed by ``remove()``.
    let directory: URL
    /// What GitHub would name the key.
    let identifier: String

    init(identifier: String = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a") async throws {
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-gh-\(UUID().uuidString)")
        self.identifier = identifier
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        try await Spawned.openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem"], in: self.directory.path)
        try await Spawned.openssl(["ec", "-in", "key.pem", "-pubout", "-out", "pub.pem"], in: self.directory.path)
    }

    /// The public key, PEM.
    var publicKeyPEM: String {
        get throws { try String(contentsOf: self.directory.appendingPathComponent("pub.pem"), encoding: .utf8) }
    }

    /// GitHub's public-keys JSON listing this key (and `others`).
    func keysJSON(others: [GitHubSigner] = []) throws -> Data {
        let entries = try ([self] + others).enumerated().map { index, signer in
            ["key_identifier": signer.identifier, "key": try signer.publicKeyPEM, "is_current": index == 0] as [String: Any]
        }
        return try JSONSerialization.data(withJSONObject: ["public_keys": entries])
    }

    /// The key set Rotor loads from ``keysJSON(others:)``.
    func keySet(others: [GitHubSigner] = []) throws -> GitHubKeySet {
        try GitHubKeySet(json: try self.keysJSON(others: others))
    }

    /// `Github-Public-Key-Signature` for `body`: base64 of the DER signature.
    func sign(_ body: [UInt8]) async throws -> String {
        let name = UUID().uuidString
        try Data(body).write(to: self.directory.appendingPathComponent(name))
        try await Spawned.openssl(["dgst", "-sha256", "-sign", "key.pem", "-out", name + ".sig", name], in: self.directory.path)
        return try Data(contentsOf: self.directory.appendingPathComponent(name + ".sig")).base64EncodedString()
    }

    func remove() {
        try? FileManager.default.removeItem(at: self.directory)
    }
}
