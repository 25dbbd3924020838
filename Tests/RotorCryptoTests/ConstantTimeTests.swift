import RotorCrypto
import Testing

@Suite struct ConstantTimeTests {
    @Test func equalBytes() {
        #expect(constantTimeEquals([1, 2, 3] as [UInt8], [1, 2, 3] as [UInt8]))
        let digest = SHA256.hash("x")
        #expect(constantTimeEquals(digest, Array(digest)))
    }

    @Test func differentBytes() {
        #expect(!constantTimeEquals([1, 2, 3] as [UInt8], [1, 2, 4] as [UInt8]))
        #expect(!constantTimeEquals([0, 2, 3] as [UInt8], [1, 2, 3] as [UInt8]))
    }

    @Test func differentLengths() {
        #expect(!constantTimeEquals([1, 2, 3] as [UInt8], [1, 2] as [UInt8]))
        #expect(!constantTimeEquals([1, 2] as [UInt8], [1, 2, 3] as [UInt8]))
        #expect(!constantTimeEquals([] as [UInt8], [0] as [UInt8]))
    }

    @Test func emptyEqualsEmpty() {
        #expect(constantTimeEquals([] as [UInt8], [] as [UInt8]))
    }

    @Test func mixedCollectionTypes() {
        let bytes: [UInt8] = [9, 8, 7, 6]
        #expect(constantTimeEquals(bytes[1...], [8, 7, 6] as [UInt8]))
        #expect(!constantTimeEquals(bytes[1...], [8, 7, 5] as [UInt8]))
    }
}
