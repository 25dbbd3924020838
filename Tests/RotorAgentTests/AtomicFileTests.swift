import Foundation
import RotorAgent
import Testing

/// Key files are replaced whole, with the mode asked for, leaving nothing behind.
@Suite struct AtomicFileTests {
    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "rotor-agent-atomic-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test("a new file gets the content and mode 0600, and no temporary file is left")
    func newFile() throws {
        let directory = try Self.directory()
        let path = directory + "/key"
        try AtomicFile.write(Array("s3cret".utf8), to: path, mode: 0o600)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "s3cret")
        #expect(try Self.mode(path) == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["key"])
    }

    @Test("the mode asked for is set whatever the umask", arguments: [0o640, 0o600, 0o644])
    func modes(mode: Int) throws {
        let directory = try Self.directory()
        let old = umask(0o077)
        defer { umask(old) }
        try AtomicFile.write(Array("x".utf8), to: directory + "/key", mode: UInt16(mode))
        #expect(try Self.mode(directory + "/key") == mode)
    }

    @Test("replacing is a rename: a reader holding the old file keeps reading the old key whole; the path has the new one")
    func renameSemantics() throws {
        let directory = try Self.directory()
        let path = directory + "/key"
        try AtomicFile.write(Array("old-key".utf8), to: path, mode: 0o600)
        let before = try #require(FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int)
        let reader = try #require(FileHandle(forReadingAtPath: path))
        defer { try? reader.close() }
        try AtomicFile.write(Array("new-key-longer".utf8), to: path, mode: 0o600)
        let after = try #require(FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int)
        #expect(before != after, "the file was rewritten in place, not replaced")
        #expect(String(decoding: try reader.readToEnd() ?? Data(), as: UTF8.self) == "old-key")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new-key-longer")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["key"])
    }

    @Test("a symlink at the path is replaced, not followed: the file it pointed to keeps its content")
    func symlinkNotFollowed() throws {
        let directory = try Self.directory()
        try "victim".write(toFile: directory + "/victim", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: directory + "/key", withDestinationPath: directory + "/victim")
        try AtomicFile.write(Array("k".utf8), to: directory + "/key", mode: 0o600)
        #expect(try String(contentsOfFile: directory + "/victim", encoding: .utf8) == "victim")
        #expect(try String(contentsOfFile: directory + "/key", encoding: .utf8) == "k")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/key")) == nil)
    }

    @Test("a write that cannot happen throws with the path and leaves the old key and no temporary file")
    func failureLeavesOldKey() throws {
        let directory = try Self.directory()
        let path = directory + "/key"
        try AtomicFile.write(Array("old".utf8), to: path, mode: 0o600)
        // A directory at the target: the rename fails after the temporary file was written.
        let blocked = directory + "/blocked"
        try FileManager.default.createDirectory(atPath: blocked + "/inside", withIntermediateDirectories: true)
        #expect(throws: AtomicFile.WriteError.self) { try AtomicFile.write(Array("new".utf8), to: blocked, mode: 0o600) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["blocked", "key"])
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "old")
        let missing = #expect(throws: AtomicFile.WriteError.self) { try AtomicFile.write(Array("x".utf8), to: directory + "/nope/key", mode: 0o600) }
        #expect(missing?.description.contains(directory + "/nope") == true, "\(String(describing: missing))")
    }
}
