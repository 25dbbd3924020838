import RotorCrypto
import Testing

@Suite struct SecureRandomTests {
    @Test func returnsTheRequestedCount() {
        #expect(SecureRandom.bytes(count: 0).isEmpty)
        #expect(SecureRandom.bytes(count: 1).count == 1)
        #expect(SecureRandom.bytes(count: 1000).count == 1000)
    }

    @Test func drawsDiffer() {
        // 2^-256 chance of a false failure.
        #expect(SecureRandom.bytes(count: 32) != SecureRandom.bytes(count: 32))
    }

    @Test func tokenIsPrefixedUnpaddedBase64URL() {
        let token = SecureRandom.token(prefix: "rtr_")
        #expect(token.hasPrefix("rtr_"))
        let body = token.dropFirst(4)
        #expect(body.count == 43)  // 32 bytes → ceil(256 / 6) characters, no padding
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        #expect(body.allSatisfy { alphabet.contains($0) })
        #expect(SecureRandom.token(prefix: "rtr_") != token)
    }

    @Test func tokenLengthFollowsByteCount() {
        #expect(SecureRandom.token(prefix: "", byteCount: 3).count == 4)
        #expect(SecureRandom.token(prefix: "x", byteCount: 16).count == 1 + 22)
    }
}
