import COpenSSL

/// Helpers that turn OpenSSL's return codes and thread-local error queue into ``CryptoError``.
enum OpenSSL {
    /// Pops the oldest entry of this thread's OpenSSL error queue as text and empties the queue,
    /// so a stale entry is never blamed on a later, unrelated failure.
    ///
    /// OpenSSL's strings name a library, function and reason ("error:1C800064:Provider
    /// routines::bad decrypt"); they never contain the data being processed.
    static func drainErrorQueue() -> String? {
        let code = ERR_get_error()
        defer { ERR_clear_error() }
        guard code != 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: 256)
        return buffer.withUnsafeMutableBufferPointer { buffer in
            ERR_error_string_n(code, buffer.baseAddress, buffer.count)
            return String(cString: buffer.baseAddress!)
        }
    }

    /// The error for a failed OpenSSL call, carrying OpenSSL's reason when it reported one.
    static func error(_ operation: String) -> CryptoError {
        CryptoError.openSSL(operation: operation, reason: drainErrorQueue())
    }

    /// Throws unless `result` is 1, OpenSSL's success value for the EVP/HMAC/RAND calls used here.
    static func check(_ result: Int32, _ operation: String) throws {
        guard result == 1 else { throw error(operation) }
    }

    /// Converts a byte count to OpenSSL's `int` length, refusing what would overflow it.
    static func int32Length(_ count: Int) throws -> Int32 {
        guard let length = Int32(exactly: count) else { throw CryptoError.inputTooLarge(byteCount: count) }
        return length
    }

    /// Overwrites a buffer in a way the optimiser may not remove, for keys and plaintext that
    /// should not linger in freed memory.
    static func cleanse(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress {
                OPENSSL_cleanse(base, raw.count)
            }
        }
    }
}
