#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension Keyring {
    /// Keyring files are a few hundred bytes per key; anything far larger is the wrong file.
    static let maxFileSize = 1 << 20

    /// Loads the keyring JSON at `path` (`ROTOR_KEYRING_FILE`).
    ///
    /// Refuses a file that grants any permission to group or others: the file holds every KEK in
    /// clear, and a world-readable keyring makes encryption at rest pointless. The mode is checked
    /// on the opened descriptor, so a symlink (e.g. a Kubernetes secret mount) is judged by the
    /// file it points to.
    ///
    /// - Throws: ``CryptoError`` with code `insecureKeyringFile` (naming the path and the fix,
    ///   `chmod 600 <path>`), `keyringFileIO` if the file cannot be read, or `invalidKeyring` if
    ///   it is not a regular file or its contents are invalid.
    public static func load(fromFile path: String) throws -> Keyring {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ioError(path: path, operation: "open") }
        defer { close(descriptor) }

        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw ioError(path: path, operation: "inspect") }
        let mode = UInt32(status.st_mode)
        guard mode & UInt32(S_IFMT) == UInt32(S_IFREG) else {
            throw CryptoError.invalidKeyring("'\(path)' is not a regular file")
        }
        guard mode & 0o077 == 0 else {
            throw CryptoError.insecureKeyringFile(path: path, mode: mode)
        }
        guard Int(status.st_size) <= maxFileSize else {
            throw CryptoError.invalidKeyring(
                "'\(path)' is \(status.st_size) bytes; a keyring file is at most \(maxFileSize)")
        }

        var contents = try readAll(descriptor: descriptor, path: path, expectedSize: Int(status.st_size))
        defer { OpenSSL.cleanse(&contents) }
        return try Keyring(json: contents)
    }

    /// Writes the keyring to `path` with mode 0600, replacing any file there atomically.
    ///
    /// The JSON goes to a temporary file created 0600 in the same directory (never readable by
    /// others, not even briefly), is fsynced, then renamed over `path`, and the directory is
    /// fsynced: a crash leaves either the old keyring or the new one, never a torn file, and
    /// losing the keyring means losing every secret.
    ///
    /// - Throws: ``CryptoError`` with code `keyringFileIO` naming the step that failed.
    public func write(toFile path: String) throws {
        let directory = Self.directory(of: path)
        let baseName = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
        let temporaryPath = "\(directory)/.\(baseName).tmp-\(SecureRandom.bytes(count: 6).hexString)"

        let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Self.ioError(path: temporaryPath, operation: "create") }
        var renamed = false
        defer {
            if !renamed { unlink(temporaryPath) }
        }

        var contents = jsonRepresentation()
        defer { OpenSSL.cleanse(&contents) }
        do {
            // The umask can only remove bits from 0600; fchmod states the mode regardless of it.
            guard fchmod(descriptor, 0o600) == 0 else { throw Self.ioError(path: temporaryPath, operation: "chmod") }
            try writeAll(contents, descriptor: descriptor, path: temporaryPath)
            guard fsync(descriptor) == 0 else { throw Self.ioError(path: temporaryPath, operation: "fsync") }
        } catch {
            close(descriptor)
            throw error
        }
        guard close(descriptor) == 0 else { throw Self.ioError(path: temporaryPath, operation: "close") }
        guard rename(temporaryPath, path) == 0 else { throw Self.ioError(path: path, operation: "replace") }
        renamed = true

        // Makes the rename itself durable. Best effort: some filesystems refuse fsync on a
        // directory, and the new file is already in place.
        let directoryDescriptor = open(directory, O_RDONLY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let directory = path[..<slash]
        return directory.isEmpty ? "/" : String(directory)
    }

    fileprivate static func ioError(path: String, operation: String, code: Int32 = errno) -> CryptoError {
        CryptoError.keyringFileIO(
            path: path, operation: operation, errno: code, message: String(cString: strerror(code)))
    }
}

// Free functions, so that `read` and `write` mean the POSIX calls, not Keyring.write(toFile:).

private func readAll(descriptor: Int32, path: String, expectedSize: Int) throws -> [UInt8] {
    var contents: [UInt8] = []
    // Sized up front so that growing the array does not leave copies of keys in freed memory.
    contents.reserveCapacity(expectedSize + 1)
    var chunk = [UInt8](repeating: 0, count: 4096)
    defer { OpenSSL.cleanse(&chunk) }
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw Keyring.ioError(path: path, operation: "read")
        }
        if count == 0 { return contents }
        contents.append(contentsOf: chunk[..<count])
        guard contents.count <= Keyring.maxFileSize else {
            throw CryptoError.invalidKeyring("'\(path)' is larger than \(Keyring.maxFileSize) bytes")
        }
    }
}

private func writeAll(_ bytes: [UInt8], descriptor: Int32, path: String) throws {
    var offset = 0
    while offset < bytes.count {
        let count = bytes.withUnsafeBytes { raw in
            write(descriptor, raw.baseAddress! + offset, raw.count - offset)
        }
        if count < 0 {
            if errno == EINTR { continue }
            throw Keyring.ioError(path: path, operation: "write")
        }
        offset += count
    }
}
