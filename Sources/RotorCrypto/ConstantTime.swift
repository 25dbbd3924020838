import COpenSSL

/// Whether `a` and `b` hold the same bytes, in time that depends only on their length.
///
/// Use this for every comparison of a MAC, signature or token hash with an expected value: `==`
/// stops at the first differing byte, which lets an attacker find a valid MAC byte by byte.
/// Collections of different lengths are unequal without their contents being compared; lengths
/// are not secret for the values compared here (fixed-size MACs and digests). Two empty
/// collections are equal.
public func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    return a.withNonNullBytes { aPointer, count in
        b.withNonNullBytes { bPointer, _ in
            CRYPTO_memcmp(aPointer, bPointer, count) == 0
        }
    }
}
