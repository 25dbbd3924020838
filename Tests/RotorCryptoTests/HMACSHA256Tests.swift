import RotorCrypto
import Testing

@Suite struct HMACSHA256Tests {
    struct Vector: Sendable, CustomTestStringConvertible {
        var name: String
        var key: [UInt8]
        var data: [UInt8]
        var mac: String
        var testDescription: String { name }
    }

    private static let longKey = [UInt8](repeating: 0xaa, count: 131)

    // RFC 4231 §4, HMAC-SHA-256 outputs.
    static let vectors: [Vector] = [
        Vector(
            name: "RFC 4231 test case 1",
            key: [UInt8](repeating: 0x0b, count: 20),
            data: Array("Hi There".utf8),
            mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        ),
        Vector(
            name: "RFC 4231 test case 2",
            key: Array("Jefe".utf8),
            data: Array("what do ya want for nothing?".utf8),
            mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        ),
        Vector(
            name: "RFC 4231 test case 3",
            key: [UInt8](repeating: 0xaa, count: 20),
            data: [UInt8](repeating: 0xdd, count: 50),
            mac: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"
        ),
        Vector(
            name: "RFC 4231 test case 4",
            key: Array(1...25),
            data: [UInt8](repeating: 0xcd, count: 50),
            mac: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"
        ),
        Vector(
            name: "RFC 4231 test case 6",
            key: longKey,
            data: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
            mac: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        ),
        Vector(
            name: "RFC 4231 test case 7",
            key: longKey,
            data: Array(
                ("This is a test using a larger than block-size key and a larger than block-size data. "
                    + "The key needs to be hashed before being used by the HMAC algorithm.").utf8
            ),
            mac: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
        ),
    ]

    @Test(arguments: vectors)
    func rfc4231(_ vector: Vector) {
        let mac = HMACSHA256.authenticationCode(key: vector.key, message: vector.data)
        #expect(mac.hexString == vector.mac)
        #expect(mac.count == HMACSHA256.byteCount)
    }

    /// Test case 5 publishes only the first 128 bits of the output.
    @Test func rfc4231TruncatedCase5() {
        let mac = HMACSHA256.authenticationCode(
            key: [UInt8](repeating: 0x0c, count: 20),
            message: "Test With Truncation"
        )
        #expect(mac.prefix(16).hexString == "a3b6167473100ee06e0c796c2955552b")
    }

    @Test func emptyKeyAndMessage() {
        let mac = HMACSHA256.authenticationCode(key: [UInt8](), message: [UInt8]())
        #expect(mac.hexString == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    @Test func keyChangesTheCode() {
        let a = HMACSHA256.authenticationCode(key: Array("key-a".utf8), message: "payload")
        let b = HMACSHA256.authenticationCode(key: Array("key-b".utf8), message: "payload")
        #expect(a != b)
    }
}
