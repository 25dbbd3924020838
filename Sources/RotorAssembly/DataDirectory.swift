import Foundation

/// The data directory: created owner-only, because it holds the database and, in --dev, the keyring.
public enum DataDirectory {
    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String

        public init(description: String) {
            self.description = description
        }
    }

    public static func prepare(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw Error(description: "exists and is not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw Error(description: "cannot create it (\(error.localizedDescription))")
        }
    }

    public static func path(_ directory: String, _ name: String) -> String {
        (directory as NSString).appendingPathComponent(name)
    }
}

/// An exclusive lock on a data directory's SQLite database (`rotor.lock`), held for as long as
/// this value lives: one `rotor serve` per SQLite database. Several instances share work through
/// PostgreSQL, never through one SQLite file; and the store keeps what it has read of the tokens
/// (`TokenCache`), which is exact only while this process is the one that writes them.
public final class DataDirectoryLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock, or throws at once when another process holds it.
    public init(_ directory: String) throws {
        let path = DataDirectory.path(directory, "rotor.lock")
        let descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw DataDirectory.Error(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw DataDirectory.Error(
                description: busy
                    ? "another rotor serve is using the SQLite database in \(directory); run several instances on PostgreSQL (ROTOR_DATABASE_URL), each with its own data directory"
                    : "cannot lock \(path): \(reason)")
        }
        self.descriptor = descriptor
    }

    deinit {
        close(self.descriptor)
    }
}
