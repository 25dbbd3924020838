import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes a file so that a reader sees the old content or the new, never a part: a temporary file
/// beside it (created 0600 with `O_EXCL`, so nobody else's file and nobody else's read), written,
/// given its mode and owner, fsynced, renamed over the target, and the directory fsynced so the
/// rename survives a crash.
package enum AtomicFile {
    /// What failed, with the path and the system's reason.
    package struct WriteError: Error, Sendable, CustomStringConvertible {
        package var description: String
    }

    package static func write(_ content: some Collection<UInt8>, to path: String, mode: UInt16, owner: FileOwner? = nil) throws(WriteError) {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        var random = SystemRandomNumberGenerator()
        let temporary = "\(directory)/.\(name).\(String(random.next(), radix: 16)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw Self.error("cannot create \(temporary)") }
        var renamed = false
        defer { if !renamed { unlink(temporary) } }
        do {
            defer { close(fd) }
            let bytes = Array(content)
            var written = 0
            while written < bytes.count {
                let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw Self.error("cannot write \(temporary)")
                }
                written += count
            }
            if let owner {
                guard fchown(fd, owner.uid, owner.gid ?? UInt32.max) == 0 else { throw Self.error("cannot give \(path) to \(owner.text)") }
            }
            // After chown, which may clear set-id bits; and explicit, so the umask does not apply.
            guard fchmod(fd, mode_t(mode)) == 0 else { throw Self.error("cannot set the mode of \(temporary)") }
            guard fsync(fd) == 0 else { throw Self.error("cannot fsync \(temporary)") }
        }
        guard rename(temporary, path) == 0 else { throw Self.error("cannot rename \(temporary) to \(path)") }
        renamed = true
        let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else { throw Self.error("cannot open \(directory) to fsync it") }
        defer { close(directoryFD) }
        guard fsync(directoryFD) == 0 else { throw Self.error("cannot fsync \(directory)") }
    }

    /// The file's bytes, or nil when it cannot be read (missing included).
    package static func read(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { Array($0) }
    }

    private static func error(_ what: String) -> WriteError {
        WriteError(description: "\(what): \(String(cString: strerror(errno)))")
    }
}
