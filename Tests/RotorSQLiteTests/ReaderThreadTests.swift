import ChildProcess
import Foundation
import RotorStoreConformance
import Testing

/// The store's own threads carry names, so that `top -H`, `perf` and a stack dump tell them from
/// Swift's and NIO's threads.
@Suite struct ReaderThreadTests {
    @Test("an open store's two reader threads are named rotor.read and rotor.scan")
    func readerThreadsAreNamed() async throws {
        let fixture = try await SQLiteFixture.opened()
        defer { fixture.cleanup() }
        try await Poll.until("this process has threads named rotor.read and rotor.scan") {
            let names = try Self.threadNames()
            return names.contains("rotor.read") && names.contains("rotor.scan")
        }
    }

    /// The names of this process's threads, from `/proc/self/task/*/comm`.
    static func threadNames() throws -> Set<String> {
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
        return Set(tasks.compactMap { task in
            (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines)
        })
    }
}
