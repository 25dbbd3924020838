import RotorCrypto
import Testing

@Suite struct EnvelopeTests {
    let keyring = Keyring.generate(id: "kek-a")
    let context = EnvelopeContext(recordID: "cred_123", field: "current_key", version: 4)
    let secret = Array("vultr-api-key-ABCDEFGHIJKLMNOP".utf8)

    @Test func roundTrip() throws {
        let envelope = try Envelope.seal(secret, context: context, keyring: keyring)
        #expect(try Envelope.open(envelope, context: context, keyring: keyring) == secret)
        #expect(try Envelope.kekID(of: envelope) == "kek-a")
    }

    @Test func layoutMatchesTheDocumentedFormat() throws {
        let envelope = try Envelope.seal(secret, context: context, keyring: keyring)
        #expect(Array(envelope.prefix(4)) == Array("RTE".utf8) + [0x01])
        #expect(envelope[4] == 5)
        #expect(Array(envelope[5..<10]) == Array("kek-a".utf8))
        #expect(envelope.count == 93 + 5 + secret.count)
        // The plaintext does not appear in clear.
        #expect(
            !envelope.indices.dropLast(secret.count - 1).contains { Array(envelope[$0..<$0 + secret.count]) == secret })
    }

    @Test func emptyPlaintext() throws {
        let envelope = try Envelope.seal([UInt8](), context: context, keyring: keyring)
        #expect(try Envelope.open(envelope, context: context, keyring: keyring) == [])
    }

    @Test func eachSealUsesAFreshDataKeyAndNonce() throws {
        let a = try Envelope.seal(secret, context: context, keyring: keyring)
        let b = try Envelope.seal(secret, context: context, keyring: keyring)
        #expect(a != b)
    }

    @Test func flippingAnyByteFailsToOpen() throws {
        let envelope = try Envelope.seal(secret, context: context, keyring: keyring)
        for index in envelope.indices {
            for mask: UInt8 in [0x01, 0x80] {
                var tampered = envelope
                tampered[index] ^= mask
                #expect(throws: CryptoError.self, "byte \(index) ^ \(mask)") {
                    try Envelope.open(tampered, context: context, keyring: keyring)
                }
            }
        }
    }

    @Test func truncatedOrExtendedEnvelopesFailCleanly() throws {
        let envelope = try Envelope.seal(secret, context: context, keyring: keyring)
        for length in 0..<envelope.count {
            #expect(throws: CryptoError.self, "prefix of \(length) bytes") {
                try Envelope.open(Array(envelope.prefix(length)), context: context, keyring: keyring)
            }
        }
        #expect(throws: CryptoError.self) {
            try Envelope.open(envelope + [0], context: context, keyring: keyring)
        }
    }

    @Test func malformedHeadersAreTypedErrors() throws {
        let envelope = try Envelope.seal(secret, context: context, keyring: keyring)
        var badMagic = envelope
        badMagic[0] = UInt8(ascii: "X")
        #expect((#expect(throws: CryptoError.self) { try Envelope.kekID(of: badMagic) })?.code == .malformedEnvelope)

        var newerVersion = envelope
        newerVersion[3] = 2
        let versionError = #expect(throws: CryptoError.self) {
            try Envelope.open(newerVersion, context: context, keyring: keyring)
        }
        #expect(versionError?.code == .unsupportedEnvelopeVersion)

        var badID = envelope
        badID[6] = UInt8(ascii: "/")
        #expect((#expect(throws: CryptoError.self) { try Envelope.kekID(of: badID) })?.code == .malformedEnvelope)

        #expect((#expect(throws: CryptoError.self) { try Envelope.kekID(of: []) })?.code == .malformedEnvelope)
    }

    @Test func sameKEKIDWithADifferentKeyFails() throws {
        let envelope = try Envelope.seal(secret, context: context, keyring: keyring)
        let impostor = Keyring.generate(id: "kek-a")
        #expect(throws: CryptoError.authenticationFailed) {
            try Envelope.open(envelope, context: context, keyring: impostor)
        }
    }

    @Test(arguments: [
        EnvelopeContext(recordID: "cred_124", field: "current_key", version: 4),
        EnvelopeContext(recordID: "cred_123", field: "pending_key", version: 4),
        EnvelopeContext(recordID: "cred_123", field: "current_key", version: 5),
        EnvelopeContext(recordID: "cred_123", field: "current_key", version: -4),
        // Same concatenated bytes, different split: the length prefixes must tell them apart.
        EnvelopeContext(recordID: "cred_123current_", field: "key", version: 4),
        EnvelopeContext(recordID: "cred_12", field: "3current_key", version: 4),
    ])
    func anotherContextFailsToOpen(_ other: EnvelopeContext) throws {
        let envelope = try Envelope.seal(secret, context: context, keyring: keyring)
        #expect(throws: CryptoError.authenticationFailed) {
            try Envelope.open(envelope, context: other, keyring: keyring)
        }
    }

    @Test func missingKEKIsNamed() throws {
        let envelope = try Envelope.seal(secret, context: context, keyring: keyring)
        let other = Keyring.generate(id: "kek-b")
        let error = #expect(throws: CryptoError.self) {
            try Envelope.open(envelope, context: context, keyring: other)
        }
        #expect(error == CryptoError.unknownKey("kek-a"))
        #expect(error?.code == .unknownKey)
        #expect(error?.keyID == "kek-a")
        #expect(error?.description == "keyring has no key-encryption key with id 'kek-a'")
    }

    @Test func rewrapMovesTheDataKeyToTheActiveKEK() throws {
        let envelope = try Envelope.seal(secret, context: context, keyring: keyring)
        let rotated = try keyring.adding(Keyring.generateKey(id: "kek-b"), makeActive: true)
        #expect(rotated.activeKeyID == "kek-b")

        let rewrapped = try Envelope.rewrap(envelope, context: context, keyring: rotated)
        #expect(try Envelope.kekID(of: rewrapped) == "kek-b")
        // The value layer (nonce, ciphertext, tag) is carried over unchanged.
        let valueLayerSize = 12 + secret.count + 16
        #expect(Array(rewrapped.suffix(valueLayerSize)) == Array(envelope.suffix(valueLayerSize)))

        let onlyB = try rotated.removing(id: "kek-a")
        #expect(onlyB.keyIDs == ["kek-b"])
        #expect(try Envelope.open(rewrapped, context: context, keyring: onlyB) == secret)

        // The old envelope needs the removed key, and says which.
        let error = #expect(throws: CryptoError.self) {
            try Envelope.open(envelope, context: context, keyring: onlyB)
        }
        #expect(error?.description.contains("'kek-a'") == true)
    }

    @Test func rewrapUnderTheActiveKEKIsANoOp() throws {
        let envelope = try Envelope.seal(secret, context: context, keyring: keyring)
        #expect(try Envelope.rewrap(envelope, context: context, keyring: keyring) == envelope)
    }

    @Test func rewrapChecksTheContext() throws {
        let envelope = try Envelope.seal(secret, context: context, keyring: keyring)
        let rotated = try keyring.adding(Keyring.generateKey(id: "kek-b"), makeActive: true)
        var other = context
        other.version += 1
        #expect(throws: CryptoError.authenticationFailed) {
            try Envelope.rewrap(envelope, context: other, keyring: rotated)
        }
    }

    @Test func errorsNeverContainPlaintextOrKeyMaterial() throws {
        let keyBytes = SecureRandom.bytes(count: 32)
        let masterKey = base64(keyBytes)
        let ring = try Keyring(masterKeyBase64: masterKey)
        let secretText = "sk-live-THIS-IS-THE-PLAINTEXT-SECRET"
        let envelope = try Envelope.seal(Array(secretText.utf8), context: context, keyring: ring)

        var tampered = envelope
        tampered[tampered.count - 1] ^= 1
        var errors: [CryptoError] = []
        for attempt: () throws -> [UInt8] in [
            {
                try Envelope.open(
                    envelope, context: EnvelopeContext(recordID: "x", field: "y", version: 1), keyring: ring)
            },
            { try Envelope.open(tampered, context: self.context, keyring: ring) },
            { try Envelope.open(envelope, context: self.context, keyring: Keyring.generate(id: "master")) },
            { try Envelope.open(Array(envelope.prefix(40)), context: self.context, keyring: ring) },
        ] {
            let error = #expect(throws: CryptoError.self) { try attempt() }
            errors.append(try #require(error))
        }
        for error in errors {
            for text in [String(describing: error), String(reflecting: error), "\(error.code)"] {
                #expect(!text.contains(secretText))
                #expect(!text.contains(masterKey))
                #expect(!text.contains(keyBytes.hexString))
                #expect(!text.contains(envelope.hexString))
            }
        }
    }
}
