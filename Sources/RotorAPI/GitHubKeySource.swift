import Foundation
import Synchronization

/// GitHub's secret-scanning keys as Rotor trusts them now: loaded from `ROTOR_GITHUB_KEYS_FILE`
/// at start and read again when the file changes or on SIGHUP (GitHub adds keys, and rotates
/// the current one). A file that does not parse leaves the keys as they were: the intake keeps
/// verifying reports with the last good set rather than refusing them all.
public final class GitHubKeySource: Sendable {
    private let keys: Mutex<GitHubKeySet?>
    private let seen = Mutex<FileStamp?>(nil)
    /// The file the keys come from; nil for a fixed set.
    public let path: String?

    /// Keys read from `path` (when given), starting with `keys`.
    public init(_ keys: GitHubKeySet?, path: String? = nil) {
        self.keys = Mutex(keys)
        self.path = path
        if let path { self.seen.withLock { $0 = FileStamp(path) } }
    }

    /// The keys in force.
    public var current: GitHubKeySet? { self.keys.withLock { $0 } }

    /// Reads the file again; on success its keys replace the current ones, and they are
    /// returned. On failure the current keys stay and the error says why.
    @discardableResult
    public func reload() throws(GitHubKeySet.LoadError) -> GitHubKeySet? {
        guard let path = self.path else { return self.current }
        self.seen.withLock { $0 = FileStamp(path) }
        let loaded = try GitHubKeySet.load(fromFile: path)
        self.keys.withLock { $0 = loaded }
        return loaded
    }

    /// Whether the file's size, modification time or inode differ from when it was last read.
    public func fileChanged() -> Bool {
        guard let path = self.path else { return false }
        return self.seen.withLock { $0 } != FileStamp(path)
    }
}

/// What tells a file's new contents from its old: inode, size and modification time (an atomic
/// replace, as Kubernetes does for a mounted secret, changes the inode).
private struct FileStamp: Sendable, Equatable {
    let inode: UInt64
    let size: UInt64
    let modified: Date

    init?(_ path: String) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        self.inode = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
        self.size = (attributes[.size] as? NSNumber)?.uint64Value ?? 0
        self.modified = attributes[.modificationDate] as? Date ?? .distantPast
    }
}
