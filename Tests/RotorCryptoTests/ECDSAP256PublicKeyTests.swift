import ChildProcess
import Foundation
import RotorCrypto
import Testing

/// Keys and signatures come from the `openssl` command-line tool, an implementation independent
/// of the code under test's own key handling.
@Suite struct ECDSAP256PublicKeyTests {
    struct Fixture: Sendable {
        var publicKeyPEM: String
        var message: [UInt8]
        var signature: [UInt8]
    }

    /// A fresh P-256 (or `curve`) key pair, and a signature over a GitHub-style payload.
    private static func makeKeyPair(curve: String = "prime256v1") async throws -> Fixture {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let message = Array(
            #"[{"token":"rtr_abc","type":"rotor_api_key","url":"https://example.com","source":"content"}]"#.utf8)
        try Data(message).write(to: directory.appendingPathComponent("msg"))
        try await Spawned.openssl(["ecparam", "-name", curve, "-genkey", "-noout", "-out", "k.pem"], in: directory.path)
        try await Spawned.openssl(["ec", "-in", "k.pem", "-pubout", "-out", "pub.pem"], in: directory.path)
        try await Spawned.openssl(["dgst", "-sha256", "-sign", "k.pem", "-out", "sig.der", "msg"], in: directory.path)
        return Fixture(
            publicKeyPEM: try String(contentsOf: directory.appendingPathComponent("pub.pem"), encoding: .utf8),
            message: message,
            signature: Array(try Data(contentsOf: directory.appendingPathComponent("sig.der")))
        )
    }

    @Test func acceptsAValidSignature() async throws {
        let fixture = try await Self.makeKeyPair()
        let key = try ECDSAP256PublicKey(pem: fixture.publicKeyPEM)
        #expect(key.isValidSignature(fixture.signature, for: fixture.message))
        // Any collection of bytes works as the message.
        #expect(key.isValidSignature(fixture.signature, for: fixture.message[...]))
    }

    @Test func rejectsAChangedMessage() async throws {
        let fixture = try await Self.makeKeyPair()
        let key = try ECDSAP256PublicKey(pem: fixture.publicKeyPEM)
        for index in [0, fixture.message.count / 2, fixture.message.count - 1] {
            var message = fixture.message
            message[index] ^= 0x01
            #expect(!key.isValidSignature(fixture.signature, for: message))
        }
        #expect(!key.isValidSignature(fixture.signature, for: fixture.message + [0x0a]))
        #expect(!key.isValidSignature(fixture.signature, for: [UInt8]()))
    }

    @Test func rejectsChangedOrMalformedSignatures() async throws {
        let fixture = try await Self.makeKeyPair()
        let key = try ECDSAP256PublicKey(pem: fixture.publicKeyPEM)
        for index in fixture.signature.indices {
            var signature = fixture.signature
            signature[index] ^= 0x01
            #expect(!key.isValidSignature(signature, for: fixture.message), "signature byte \(index)")
        }
        #expect(!key.isValidSignature([], for: fixture.message))
        #expect(!key.isValidSignature(Array(fixture.signature.dropLast()), for: fixture.message))
        #expect(!key.isValidSignature(fixture.signature + [0], for: fixture.message))
        #expect(!key.isValidSignature([UInt8](repeating: 0x30, count: 72), for: fixture.message))
    }

    @Test func rejectsASignatureByAnotherKey() async throws {
        let otherSignature = try await Self.makeKeyPair().signature
        let fixture = try await Self.makeKeyPair()
        let key = try ECDSAP256PublicKey(pem: fixture.publicKeyPEM)
        #expect(!key.isValidSignature(otherSignature, for: fixture.message))
    }

    @Test(arguments: ["secp384r1", "secp256k1"])
    func rejectsOtherCurves(curve: String) async throws {
        let fixture = try await Self.makeKeyPair(curve: curve)
        let error = #expect(throws: CryptoError.self) { try ECDSAP256PublicKey(pem: fixture.publicKeyPEM) }
        #expect(error?.code == .invalidPublicKey)
        #expect(error?.description.contains(curve) == true)
    }

    @Test func rejectsNonECKeys() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await Spawned.openssl(["genpkey", "-algorithm", "ed25519", "-out", "k.pem"], in: directory.path)
        try await Spawned.openssl(["pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem"], in: directory.path)
        let pem = try String(contentsOf: directory.appendingPathComponent("pub.pem"), encoding: .utf8)
        let error = #expect(throws: CryptoError.self) { try ECDSAP256PublicKey(pem: pem) }
        #expect(error?.description.contains("not an elliptic-curve key") == true)
    }

    @Test func rejectsGarbage() {
        let truncatedKey = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
        for pem in ["", "not a pem", truncatedKey] {
            let error = #expect(throws: CryptoError.self) { try ECDSAP256PublicKey(pem: pem) }
            #expect(error?.code == .invalidPublicKey)
        }
    }

    @Test func verifiesConcurrently() async throws {
        let fixture = try await Self.makeKeyPair()
        let key = try ECDSAP256PublicKey(pem: fixture.publicKeyPEM)
        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<64 {
                group.addTask {
                    var message = fixture.message
                    let tamper = index.isMultiple(of: 2)
                    if tamper { message[0] ^= 1 }
                    return key.isValidSignature(fixture.signature, for: message) != tamper
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 64)
        #expect(results.allSatisfy { $0 })
    }
}
