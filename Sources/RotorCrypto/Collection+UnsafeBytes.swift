extension Collection<UInt8> {
    /// Calls `body` with a pointer to the bytes and their count.
    ///
    /// The pointer is never nil, even for an empty collection: several OpenSSL functions reject a
    /// NULL pointer even when the length is 0 (HMAC with an empty key, EVP_Digest of ""), and an
    /// empty Swift array may hand out a nil base address.
    func withNonNullBytes<Result>(
        _ body: (UnsafePointer<UInt8>, Int) throws -> Result
    ) rethrows -> Result {
        if let result = try withContiguousStorageIfAvailable({ try Self.callNonNull($0, body) }) {
            return result
        }
        return try Array(self).withUnsafeBufferPointer { try Self.callNonNull($0, body) }
    }

    private static func callNonNull<Result>(
        _ buffer: UnsafeBufferPointer<UInt8>,
        _ body: (UnsafePointer<UInt8>, Int) throws -> Result
    ) rethrows -> Result {
        if let base = buffer.baseAddress {
            return try body(base, buffer.count)
        }
        let placeholder: UInt8 = 0
        return try withUnsafePointer(to: placeholder) { try body($0, 0) }
    }
}
