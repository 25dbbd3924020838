import Foundation
import RotorCore
import RotorCrypto
import RotorSQLite
import RotorStoreConformance
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct SQLiteStoreSecurityTests {
    static let plaintexts = [
        "PLAINTEXT-CURRENT-KEY-1234567890ABCD",
        "PLAINTEXT-PREVIOUS-KEY-1234567890ABC",
        "whsec_PLAINTEXT-SIGNING-SECRET-12345",
        "PLAINTEXT-PENDING-KEY-1234567890ABCD",
    ]

    private func mode(_ path: String) throws -> mode_t {
        var status = stat()
        try #require(stat(path, &status) == 0)
        return status.st_mode & 0o777
    }

    private func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        let bytes = Array(needle.utf8)
        guard haystack.count >= bytes.count else { return false }
        for start in 0...(haystack.count - bytes.count) where haystack[start] == bytes[0] {
            if haystack[start..<(start + bytes.count)].elementsEqual(bytes) { return true }
        }
        return false
    }

    @Test("no plaintext secret, nor its base64, appears in the database or its WAL; the files are mode 0600")
    func noPlaintextOnDisk() async throws {
        let fixture = try await SQLiteFixture.opened()
        defer { fixture.cleanup() }
        let store = fixture.store
        let credential = Sample.credential(name: "secure")
        try await store.createCredential(
            credential,
            secrets: CredentialSecrets(
                current: Secret(Self.plaintexts[0]), previous: Secret(Self.plaintexts[1]),
                signingSecrets: [credential.targets[0].id: Secret(Self.plaintexts[2])]))
        var job = try await store.addJob(for: credential)
        _ = try await store.claimJobs(owner: "A", now: Sample.t0, leaseUntil: Sample.t0.addingTimeInterval(60), limit: 1)
        try job.start(at: Sample.t0)
        try await store.commit(RotationCommit(job: job, pendingKey: .set(Secret(Self.plaintexts[3]))), owner: "A")

        let walPath = fixture.path + "-wal"
        let database = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture.path)))
        let wal = try [UInt8](Data(contentsOf: URL(fileURLWithPath: walPath)))
        #expect(!wal.isEmpty)
        // Sanity check that the search works: metadata is stored in clear.
        let sanity = contains(database + wal, "secure")
        #expect(sanity)
        for plaintext in Self.plaintexts {
            for needle in [plaintext, Data(plaintext.utf8).base64EncodedString()] {
                // Booleans first, so that a failure does not print the files' bytes.
                let inDatabase = contains(database, needle)
                let inWAL = contains(wal, needle)
                #expect(!inDatabase, "found a secret in the database file")
                #expect(!inWAL, "found a secret in the WAL file")
            }
        }

        // The secrets did go in.
        #expect(try await store.rotation(job.id).pendingKey == Secret(Self.plaintexts[3]))
        #expect(try await store.credentialSecrets(credential.id).current == Secret(Self.plaintexts[0]))

        #expect(try mode(fixture.path) == 0o600)
        #expect(try mode(walPath) == 0o600)
        #expect(try mode(fixture.path + "-shm") == 0o600)
    }

    @Test("every commit is synced (synchronous = FULL), not left to the next checkpoint")
    func commitsAreSynced() async throws {
        let fixture = try await SQLiteFixture.opened()
        defer { fixture.cleanup() }
        #expect(try await fixture.store.synchronousSetting() == 2)
    }

    @Test("an existing database file readable by others is restricted to 0600 on open")
    func existingFileIsRestricted() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("rotor.sqlite").path
        #expect(FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o644]))
        #expect(try mode(path) == 0o644)

        _ = try await SQLiteStore.connect(path: path, keyring: .generate())
        #expect(try mode(path) == 0o600)
    }
}
