import Foundation
import RotorCrypto
import Testing

@Suite struct KeyringTests {
    private static let keyA = base64([UInt8](repeating: 0x11, count: 32))
    private static let keyB = base64([UInt8](repeating: 0x22, count: 32))
    private let context = EnvelopeContext(recordID: "cred_1", field: "current_key", version: 1)

    private func keyring(_ json: String) throws -> Keyring {
        try Keyring(json: Array(json.utf8))
    }

    @Test func parsesTheDocumentedFormat() throws {
        let ring = try keyring(
            """
            {"active": "kek-b", "keys": [{"id": "kek-a", "key": "\(Self.keyA)"}, {"id": "kek-b", "key": "\(Self.keyB)"}]}
            """
        )
        #expect(ring.activeKeyID == "kek-b")
        #expect(ring.keyIDs == ["kek-a", "kek-b"])
        #expect(ring.key(id: "kek-a")?.id == "kek-a")
        #expect(ring.key(id: "kek-c") == nil)
    }

    @Test func jsonRoundTripKeepsIDsAndKeyMaterial() throws {
        let original = try Keyring.generate(id: "kek-one").adding(Keyring.generateKey(id: "kek-two"), makeActive: false)
        let json = original.jsonRepresentation()
        let parsed = try Keyring(json: json)
        #expect(parsed.activeKeyID == "kek-one")
        #expect(parsed.keyIDs == ["kek-one", "kek-two"])
        // Same key bytes: an envelope sealed with one opens with the other.
        let envelope = try Envelope.seal(Array("v".utf8), context: context, keyring: original)
        #expect(try Envelope.open(envelope, context: context, keyring: parsed) == Array("v".utf8))
        // Pretty-printed with sorted keys: "active" before "keys", "id" before "key", one field per line.
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains("\n"))
        let active = try #require(text.range(of: "\"active\""))
        let keys = try #require(text.range(of: "\"keys\""))
        #expect(active.lowerBound < keys.lowerBound)
        #expect(!text.contains("\\/"))
    }

    struct Rejection: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var json: String
        var message: String
    }

    static let rejections: [Rejection] = [
        Rejection(
            testDescription: "key of 16 bytes",
            json: #"{"active": "a", "keys": [{"id": "a", "key": "\#(base64([UInt8](repeating: 1, count: 16)))"}]}"#,
            message: "keys[0].key (id 'a') decodes to 16 bytes; it must be base64 of exactly 32 bytes"
        ),
        Rejection(
            testDescription: "key that is not base64",
            json: #"{"active": "a", "keys": [{"id": "a", "key": "not base64!"}]}"#,
            message: "keys[0].key (id 'a') is not valid base64"
        ),
        Rejection(
            testDescription: "active key missing",
            json: #"{"active": "b", "keys": [{"id": "a", "key": "\#(keyA)"}]}"#,
            message: "active key id 'b' is not among the keys ('a')"
        ),
        Rejection(
            testDescription: "duplicate id",
            json: #"{"active": "a", "keys": [{"id": "a", "key": "\#(keyA)"}, {"id": "a", "key": "\#(keyB)"}]}"#,
            message: "duplicate key id 'a'"
        ),
        Rejection(
            testDescription: "invalid JSON",
            json: #"{"active": "a", "keys": ["#,
            message: "not valid JSON"
        ),
        Rejection(
            testDescription: "invalid id characters",
            json: #"{"active": "a b", "keys": [{"id": "a b", "key": "\#(keyA)"}]}"#,
            message: "keys[0].id is invalid: ids are 1–64 characters"
        ),
        Rejection(
            testDescription: "id longer than 64",
            json: #"{"active": "a", "keys": [{"id": "\#(String(repeating: "x", count: 65))", "key": "\#(keyA)"}]}"#,
            message: "keys[0].id is invalid"
        ),
        Rejection(
            testDescription: "no keys",
            json: #"{"active": "a", "keys": []}"#,
            message: "the keyring has no keys"
        ),
        Rejection(
            testDescription: "missing field",
            json: #"{"active": "a"}"#,
            message: #"missing field "keys""#
        ),
        Rejection(
            testDescription: "wrong type",
            json: #"{"active": "a", "keys": {"id": "a"}}"#,
            message: #""keys" must be an array"#
        ),
        Rejection(
            testDescription: "not an object",
            json: #"["a"]"#,
            message: "the document must be an object"
        ),
    ]

    @Test(arguments: rejections)
    func rejectsInvalidKeyrings(_ rejection: Rejection) throws {
        let error = #expect(throws: CryptoError.self) { try keyring(rejection.json) }
        #expect(error?.code == .invalidKeyring)
        #expect(error?.description.contains(rejection.message) == true, "\(error?.description ?? "no error")")
        #expect(error?.description.contains(Self.keyA) == false)
    }

    @Test func masterKey() throws {
        let bytes = SecureRandom.bytes(count: 32)
        let ring = try Keyring(masterKeyBase64: base64(bytes) + "\n")
        #expect(ring.activeKeyID == "master")
        #expect(ring.keyIDs == ["master"])
        let envelope = try Envelope.seal(Array("x".utf8), context: context, keyring: ring)
        let again = try Keyring(masterKeyBase64: base64(bytes))
        #expect(try Envelope.open(envelope, context: context, keyring: again) == Array("x".utf8))
    }

    @Test(arguments: [
        base64([UInt8](repeating: 7, count: 16)), base64([UInt8](repeating: 7, count: 33)), "%%%not-base64%%%", "",
    ])
    func masterKeyMustBeBase64Of32Bytes(_ value: String) {
        let error = #expect(throws: CryptoError.self) { try Keyring(masterKeyBase64: value) }
        #expect(error?.code == .invalidKeyring)
        #expect(error?.description.contains("base64") == true)
        if !value.isEmpty {
            #expect(error?.description.contains(value) == false)
        }
    }

    @Test func generateMakesADatedID() throws {
        let ring = Keyring.generate()
        #expect(ring.keyIDs == [ring.activeKeyID])
        let pattern = /kek-\d{8}-[0-9a-f]{4}/
        #expect(try pattern.wholeMatch(in: ring.activeKeyID) != nil)
        #expect(Keyring.generate(id: "custom.id_1").activeKeyID == "custom.id_1")
    }

    @Test func addingAndRemoving() throws {
        let ring = Keyring.generate(id: "a")
        let withB = try ring.adding(Keyring.generateKey(id: "b"), makeActive: false)
        #expect(withB.activeKeyID == "a")
        #expect(withB.keyIDs == ["a", "b"])
        #expect(try ring.adding(Keyring.generateKey(id: "b"), makeActive: true).activeKeyID == "b")

        let duplicate = #expect(throws: CryptoError.self) {
            try withB.adding(Keyring.generateKey(id: "b"), makeActive: true)
        }
        #expect(duplicate?.description.contains("already has a key with id 'b'") == true)

        let active = #expect(throws: CryptoError.self) { try withB.removing(id: "a") }
        #expect(active?.description.contains("cannot remove the active key 'a'") == true)

        #expect(#expect(throws: CryptoError.self) { try withB.removing(id: "zzz") } == CryptoError.unknownKey("zzz"))
        #expect(try withB.removing(id: "b").keyIDs == ["a"])
    }

    @Test func importedKeyMustBe32BytesWithAValidID() throws {
        let key = try KeyEncryptionKey(id: "imported", keyBytes: [UInt8](repeating: 3, count: 32))
        #expect(key.id == "imported")
        #expect(throws: CryptoError.self) {
            try KeyEncryptionKey(id: "imported", keyBytes: [UInt8](repeating: 3, count: 31))
        }
        #expect(throws: CryptoError.self) { try KeyEncryptionKey(id: "", keyBytes: [UInt8](repeating: 3, count: 32)) }
        #expect(Keyring.isValidKeyID("kek-2025.01_a"))
        #expect(!Keyring.isValidKeyID("kek/1"))
        #expect(!Keyring.isValidKeyID("ké"))
    }

    @Test func descriptionsAndMirrorsRedactKeys() throws {
        let ring = try Keyring(json: Array(#"{"active": "a", "keys": [{"id": "a", "key": "\#(Self.keyA)"}]}"#.utf8))
        let key = try #require(ring.key(id: "a"))
        var dumped = ""
        dump(ring, to: &dumped)
        dump(key, to: &dumped)
        let keyHex = [UInt8](repeating: 0x11, count: 32).hexString
        for text in ["\(ring)", String(reflecting: ring), "\(key)", String(reflecting: key), dumped] {
            #expect(!text.contains(Self.keyA))
            #expect(!text.contains(keyHex))
            #expect(!text.contains("17, 17, 17"))
        }
        #expect("\(ring)".contains("a"))
    }

    // MARK: - Files

    @Test func writeCreatesAMode0600FileThatLoads() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("keyring.json").path

        let ring = Keyring.generate(id: "kek-file")
        try ring.write(toFile: path)
        #expect(try permissions(ofFile: path) == 0o600)
        let loaded = try Keyring.load(fromFile: path)
        #expect(loaded.activeKeyID == "kek-file")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(ring.jsonRepresentation()))
        // No temporary file is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["keyring.json"])
    }

    @Test func writeReplacesAnExistingLooserFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("keyring.json").path
        #expect(
            FileManager.default.createFile(
                atPath: path, contents: Data("old".utf8), attributes: [.posixPermissions: 0o644]))

        try Keyring.generate(id: "kek-new").write(toFile: path)
        #expect(try permissions(ofFile: path) == 0o600)
        #expect(try Keyring.load(fromFile: path).activeKeyID == "kek-new")
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660, 0o601])
    func loadRefusesFilesOthersCanAccess(mode: Int) throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("keyring.json").path
        try Keyring.generate().write(toFile: path)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)

        let error = #expect(throws: CryptoError.self) { try Keyring.load(fromFile: path) }
        #expect(error?.code == .insecureKeyringFile)
        #expect(error?.description.contains(path) == true)
        #expect(error?.description.contains("chmod 600 \(path)") == true)
        #expect(error?.description.contains("0\(String(mode, radix: 8))") == true)
    }

    @Test func loadAcceptsStricterModes() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("keyring.json").path
        try Keyring.generate(id: "ro").write(toFile: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: path)
        #expect(try Keyring.load(fromFile: path).activeKeyID == "ro")
    }

    @Test func loadReportsAMissingFile() throws {
        let error = #expect(throws: CryptoError.self) { try Keyring.load(fromFile: "/nonexistent/rotor/keyring.json") }
        #expect(error?.code == .keyringFileIO)
        #expect(error?.description.contains("/nonexistent/rotor/keyring.json") == true)
    }

    @Test func loadReportsInvalidContents() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("keyring.json").path
        #expect(
            FileManager.default.createFile(
                atPath: path, contents: Data("{".utf8), attributes: [.posixPermissions: 0o600]))
        let error = #expect(throws: CryptoError.self) { try Keyring.load(fromFile: path) }
        #expect(error?.code == .invalidKeyring)
    }
}

/// Keys derived from the keyring for one purpose (audit checkpoints).
@Suite struct KeyringDerivedKeyTests {
    @Test("a derived code is HMAC under HKDF-Expand(KEK, purpose), not under the KEK; other purposes and keys differ; unknown keys throw")
    func derived() throws {
        let kek = [UInt8](repeating: 7, count: 32)
        let keyring = try Keyring.generate(id: "first").adding(try KeyEncryptionKey(id: "second", keyBytes: kek), makeActive: false)
        let message = Array("checkpoint".utf8)
        let code = try keyring.derivedAuthenticationCode(keyID: "second", purpose: "rotor audit checkpoint v1", message: message)
        let expectedKey = HMACSHA256.authenticationCode(key: kek, message: Array("rotor audit checkpoint v1".utf8) + [0x01])
        #expect(code == HMACSHA256.authenticationCode(key: expectedKey, message: message))
        #expect(code != HMACSHA256.authenticationCode(key: kek, message: message))
        #expect(code != (try keyring.derivedAuthenticationCode(keyID: "second", purpose: "another purpose", message: message)))
        #expect(code != (try keyring.derivedAuthenticationCode(keyID: "first", purpose: "rotor audit checkpoint v1", message: message)))
        #expect(throws: CryptoError.self) {
            try keyring.derivedAuthenticationCode(keyID: "absent", purpose: "rotor audit checkpoint v1", message: message)
        }
    }
}
