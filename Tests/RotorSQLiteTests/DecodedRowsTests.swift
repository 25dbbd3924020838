import Foundation
import GRDB
import RotorCore
@testable import RotorSQLite
import RotorStoreConformance
import Synchronization
import Testing

/// ``DecodedRows``: a row is decoded again whenever any column differs in type or bytes.
@Suite struct DecodedRowsTests {
    /// What the tests decode a row into: its columns as text, and which decode made it.
    struct Decoded: Equatable, Sendable {
        let columns: [String]
        let decoding: Int
    }

    /// A table of one row per key, read through a ``DecodedRows`` that counts its decodes.
    final class Table: Sendable {
        let queue: DatabaseQueue
        let rows: DecodedRows<Decoded>
        let decodes = Mutex(0)

        init(capacity: Int = 16) throws {
            self.queue = try DatabaseQueue()
            self.rows = DecodedRows(capacity: capacity)
            try self.queue.write { db in
                try db.execute(sql: "CREATE TABLE t (id TEXT PRIMARY KEY, a, b, c)")
            }
        }

        func set(_ id: String, a: (any DatabaseValueConvertible)?, b: (any DatabaseValueConvertible)? = "b", c: (any DatabaseValueConvertible)? = 7) throws {
            try self.queue.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO t (id, a, b, c) VALUES (?, ?, ?, ?)", arguments: [id, a, b, c])
            }
        }

        func read(_ id: String) throws -> Decoded? {
            try self.queue.read { db in
                try db.fetchOne("SELECT * FROM t WHERE id = ?", arguments: [id]) { row in
                    try self.rows.value(of: row, key: id) { row in
                        let decoding = self.decodes.withLock { count in
                            count += 1
                            return count
                        }
                        let columns = try ["id", "a", "b", "c"].map { try row.optionalString($0) ?? "NULL" }
                        return Decoded(columns: columns, decoding: decoding)
                    }
                }
            }
        }
    }

    @Test("an unchanged row is decoded once and its value reused")
    func unchangedRowReused() throws {
        let table = try Table()
        try table.set("j1", a: "some text")
        let first = try #require(try table.read("j1"))
        let second = try #require(try table.read("j1"))
        #expect(first == second)
        #expect(first.decoding == 1)
        #expect(table.decodes.withLock { $0 } == 1)
    }

    @Test(
        "any change to a column decodes the row again",
        arguments: [
            ("text, same length", "abc".databaseValue, "abd".databaseValue),
            ("text, longer", "abc".databaseValue, "abcd".databaseValue),
            ("integer", 41.databaseValue, 42.databaseValue),
            ("real", 1.5.databaseValue, 1.25.databaseValue),
            ("integer to real of the same value", 1.databaseValue, 1.0.databaseValue),
            ("text to blob of the same bytes", "abc".databaseValue, Data("abc".utf8).databaseValue),
            ("text to blob, both empty", "".databaseValue, Data().databaseValue),
        ] as [(String, DatabaseValue, DatabaseValue)])
    func changedColumnDecodedAgain(_ change: (name: String, before: DatabaseValue, after: DatabaseValue)) throws {
        let table = try Table()
        try table.set("j1", a: change.before)
        let before = try #require(try table.read("j1"))
        try table.set("j1", a: change.after)
        let after = try #require(try table.read("j1"))
        #expect(after.decoding == before.decoding + 1, "\(change.name)")
        // And the new bytes are what is kept now.
        #expect(try table.read("j1") == after)
    }

    @Test("NULL to a value and back decodes the row again")
    func nullChanges() throws {
        let table = try Table()
        try table.set("j1", a: nil)
        #expect(try table.read("j1")?.columns == ["j1", "NULL", "b", "7"])
        try table.set("j1", a: "")
        #expect(try table.read("j1")?.columns == ["j1", "", "b", "7"])
        try table.set("j1", a: 0)
        #expect(try table.read("j1")?.columns == ["j1", "0", "b", "7"])
        try table.set("j1", a: nil)
        #expect(try table.read("j1")?.columns == ["j1", "NULL", "b", "7"])
        #expect(table.decodes.withLock { $0 } == 4)
    }

    @Test("a change in the last column is seen, however the earlier ones compare")
    func lastColumnChange() throws {
        let table = try Table()
        try table.set("j1", a: "x", b: "y", c: 1)
        _ = try table.read("j1")
        try table.set("j1", a: "x", b: "y", c: 2)
        #expect(try table.read("j1")?.columns == ["j1", "x", "y", "2"])
        try table.set("j1", a: "x", b: "y", c: nil)
        #expect(try table.read("j1")?.columns == ["j1", "x", "y", "NULL"])
        #expect(table.decodes.withLock { $0 } == 3)
    }

    @Test("rows are kept by key: another row's value is never answered")
    func keptByKey() throws {
        let table = try Table()
        try table.set("j1", a: "one")
        try table.set("j2", a: "two")
        #expect(try table.read("j1")?.columns[1] == "one")
        #expect(try table.read("j2")?.columns[1] == "two")
        #expect(try table.read("j1")?.columns[1] == "one")
        #expect(table.decodes.withLock { $0 } == 2)
    }

    @Test("no more than the capacity is kept, and values stay right after it is reached")
    func boundedByCapacity() throws {
        let table = try Table(capacity: 3)
        for index in 0..<10 {
            try table.set("j\(index)", a: "value \(index)")
            #expect(try table.read("j\(index)")?.columns[1] == "value \(index)")
            #expect(table.rows.count <= 3)
        }
        for index in 0..<10 {
            #expect(try table.read("j\(index)")?.columns[1] == "value \(index)")
        }
        #expect(table.rows.count <= 3)
    }

    @Test("the store's job read answers each change to the job, whoever commits it")
    func storeJobRead() async throws {
        let fixture = try await SQLiteFixture.opened()
        let store = fixture.store
        let credential = try await store.addCredential()
        let job = try await store.addJob(for: credential)
        let queued = try #require(try await store.job(job.id))
        #expect(try await store.job(job.id) == queued)
        #expect(store.decodedJobs.count == 1)

        _ = try await store.claimJobs(owner: "A", now: Sample.t0, leaseUntil: Sample.t0.addingTimeInterval(60), limit: 1)
        var rotation = try await store.rotation(job.id)
        try rotation.job.start(at: Sample.t0)
        try await store.commit(RotationCommit(job: rotation.job, events: []), owner: "A")
        let started = try #require(try await store.job(job.id))
        #expect(started.startedAt == Sample.t0)
        #expect(started.revision == queued.revision + 1)

        _ = try await store.requestCancel(job.id, at: Sample.t0.addingTimeInterval(3))
        let cancelling = try #require(try await store.job(job.id))
        #expect(cancelling.cancelRequested)
        #expect(!started.cancelRequested)
        #expect(try await store.job(.generate()) == nil)
    }
}
