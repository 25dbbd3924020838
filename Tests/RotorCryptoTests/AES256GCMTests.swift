import RotorCrypto
import Testing

@Suite struct AES256GCMTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        var name: String
        var key: [UInt8]
        var nonce: [UInt8]
        var plaintext: [UInt8]
        var aad: [UInt8]
        var ciphertext: [UInt8]
        var tag: [UInt8]
        var testDescription: String { name }
    }

    private static let zeroKey = [UInt8](repeating: 0, count: 32)
    private static let zeroNonce = [UInt8](repeating: 0, count: 12)
    private static let key15 = bytes(hex: "feffe9928665731c6d6a8f9467308308 feffe9928665731c6d6a8f9467308308")
    private static let nonce15 = bytes(hex: "cafebabefacedbaddecaf888")
    private static let plaintext15 = bytes(
        hex: """
            d9313225f88406e5a55909c5aff5269a 86a7a9531534f7da2e4c303d8a318a72
            1c3c0c95956809532fcf0e2449a6b525 b16aedf5aa0de657ba637b391aafd255
            """
    )
    private static let ciphertext15 = bytes(
        hex: """
            522dc1f099567d07f47f37a32a84427d 643a8cdcbfe5c0c97598a2bd2555d1aa
            8cb08e48590dbb3da7b08b1056828838 c5f61e6393ba7a0abcc9f662898015ad
            """
    )

    // McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B, 256-bit keys.
    static let vectors: [Vector] = [
        Vector(
            name: "GCM test case 13",
            key: zeroKey, nonce: zeroNonce, plaintext: [], aad: [],
            ciphertext: [],
            tag: bytes(hex: "530f8afbc74536b9a963b4f1c4cb738b")
        ),
        Vector(
            name: "GCM test case 14",
            key: zeroKey, nonce: zeroNonce, plaintext: [UInt8](repeating: 0, count: 16), aad: [],
            ciphertext: bytes(hex: "cea7403d4d606b6e074ec5d3baf39d18"),
            tag: bytes(hex: "d0d1c8a799996bf0265b98b5d48ab919")
        ),
        Vector(
            name: "GCM test case 15",
            key: key15, nonce: nonce15, plaintext: plaintext15, aad: [],
            ciphertext: ciphertext15,
            tag: bytes(hex: "b094dac5d93471bdec1a502270e3cc6c")
        ),
        Vector(
            name: "GCM test case 16",
            key: key15, nonce: nonce15, plaintext: Array(plaintext15.prefix(60)),
            aad: bytes(hex: "feedfacedeadbeeffeedfacedeadbeefabaddad2"),
            ciphertext: Array(ciphertext15.prefix(60)),
            tag: bytes(hex: "76fc6ece0f4e1768cddf8853bb2d551b")
        ),
    ]

    @Test(arguments: vectors)
    func publishedVector(_ vector: Vector) throws {
        let box = try AES256GCM.seal(vector.plaintext, key: vector.key, nonce: vector.nonce, authenticating: vector.aad)
        #expect(box.nonce == vector.nonce)
        #expect(box.ciphertext == vector.ciphertext)
        #expect(box.tag == vector.tag)
        #expect(try AES256GCM.open(box, key: vector.key, authenticating: vector.aad) == vector.plaintext)
    }

    @Test(arguments: vectors)
    func publishedVectorRejectsAnyChangedTagByte(_ vector: Vector) throws {
        for index in vector.tag.indices {
            var tag = vector.tag
            tag[index] ^= 0x80
            let box = try AES256GCM.SealedBox(nonce: vector.nonce, ciphertext: vector.ciphertext, tag: tag)
            #expect(throws: CryptoError.authenticationFailed) {
                try AES256GCM.open(box, key: vector.key, authenticating: vector.aad)
            }
        }
    }

    @Test func wrongAssociatedDataFails() throws {
        let key = SecureRandom.bytes(count: 32)
        let box = try AES256GCM.seal(Array("secret".utf8), key: key, authenticating: Array("row-1".utf8))
        #expect(throws: CryptoError.authenticationFailed) {
            try AES256GCM.open(box, key: key, authenticating: Array("row-2".utf8))
        }
        #expect(throws: CryptoError.authenticationFailed) {
            try AES256GCM.open(box, key: key)
        }
    }

    @Test func wrongKeyFails() throws {
        let box = try AES256GCM.seal(Array("secret".utf8), key: SecureRandom.bytes(count: 32))
        #expect(throws: CryptoError.authenticationFailed) {
            try AES256GCM.open(box, key: SecureRandom.bytes(count: 32))
        }
    }

    @Test func changedCiphertextFails() throws {
        let key = SecureRandom.bytes(count: 32)
        let box = try AES256GCM.seal(Array("secret value".utf8), key: key)
        var ciphertext = box.ciphertext
        ciphertext[3] ^= 0x01
        let tampered = try AES256GCM.SealedBox(nonce: box.nonce, ciphertext: ciphertext, tag: box.tag)
        #expect(throws: CryptoError.authenticationFailed) {
            try AES256GCM.open(tampered, key: key)
        }
    }

    @Test func randomNoncesDiffer() throws {
        let key = SecureRandom.bytes(count: 32)
        let a = try AES256GCM.seal(Array("same".utf8), key: key)
        let b = try AES256GCM.seal(Array("same".utf8), key: key)
        #expect(a.nonce.count == AES256GCM.nonceByteCount)
        #expect(a.nonce != b.nonce)
        #expect(a.ciphertext != b.ciphertext)
    }

    @Test(arguments: [0, 16, 31, 33, 64])
    func wrongKeyLengthIsATypedError(length: Int) throws {
        let error = #expect(throws: CryptoError.self) {
            try AES256GCM.seal([1, 2, 3] as [UInt8], key: [UInt8](repeating: 1, count: length))
        }
        #expect(error?.code == .invalidKeyLength)
        #expect(error?.description == "key must be 32 bytes, got \(length)")
    }

    @Test(arguments: [0, 8, 11, 13, 16])
    func wrongNonceLengthIsATypedError(length: Int) throws {
        let error = #expect(throws: CryptoError.self) {
            try AES256GCM.seal(
                [1, 2, 3] as [UInt8], key: SecureRandom.bytes(count: 32), nonce: [UInt8](repeating: 0, count: length)
            )
        }
        #expect(error?.code == .invalidNonceLength)
    }

    @Test func combinedRoundTrip() throws {
        let key = SecureRandom.bytes(count: 32)
        let box = try AES256GCM.seal(Array("hello".utf8), key: key, authenticating: [7])
        let combined = box.combined
        #expect(combined.count == 12 + 5 + 16)
        #expect(Array(combined.prefix(12)) == box.nonce)
        #expect(Array(combined.suffix(16)) == box.tag)
        let parsed = try AES256GCM.SealedBox(combined: combined)
        #expect(parsed == box)
        #expect(try AES256GCM.open(parsed, key: key, authenticating: [7]) == Array("hello".utf8))
    }

    @Test func combinedTooShortIsRejected() {
        let error = #expect(throws: CryptoError.self) {
            try AES256GCM.SealedBox(combined: [UInt8](repeating: 0, count: 27))
        }
        #expect(error?.code == .malformedSealedBox)
    }

    @Test func partsWithWrongSizesAreRejected() {
        #expect(throws: CryptoError.self) {
            try AES256GCM.SealedBox(nonce: [UInt8](repeating: 0, count: 12), ciphertext: [], tag: [1, 2, 3])
        }
        #expect(throws: CryptoError.self) {
            try AES256GCM.SealedBox(nonce: [0], ciphertext: [], tag: [UInt8](repeating: 0, count: 16))
        }
    }
}
