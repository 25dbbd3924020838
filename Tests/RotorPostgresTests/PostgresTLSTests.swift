import ChildProcess
import Foundation
import Logging
import NIOSSL
import PostgresNIO
import RotorCrypto
@testable import RotorPostgres
import RotorStoreConformance
import Testing

/// `sslmode` and `sslrootcert` in `ROTOR_DATABASE_URL`.
@Suite struct PostgresURLTLSTests {
    private func temporaryFile(_ contents: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-ca-\(UUID().uuidString).pem").path
        try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("sslrootcert parses, makes require the default, and is refused with prefer or disable")
    func parsing() throws {
        let url = try PostgresURL(parsing: "postgres://rotor:pw@db.internal/rotor?sslrootcert=/etc/rotor/db-ca.pem")
        #expect(url.rootCertificateFile == "/etc/rotor/db-ca.pem")
        #expect(url.tlsMode == .require)
        #expect(url.description == "postgres://rotor:***@db.internal:5432/rotor?sslmode=require&sslrootcert=/etc/rotor/db-ca.pem")
        #expect(try PostgresURL(parsing: "postgres://r@h/d?sslmode=verify-ca&sslrootcert=/ca.pem").tlsMode == .verifyCA)
        #expect(try PostgresURL(parsing: "postgres://r@h/d?sslmode=verify-full").tlsMode == .verifyFull)
        #expect(try PostgresURL(parsing: "postgres://r@h/d").tlsMode == .prefer)
        for mode in ["prefer", "disable"] {
            let error = #expect(throws: PostgresStoreError.self) { try PostgresURL(parsing: "postgres://r:secretpw@h/d?sslmode=\(mode)&sslrootcert=/ca.pem") }
            #expect(error?.description.contains("sslrootcert needs sslmode=require") == true, "\(String(describing: error))")
            #expect(error?.description.contains("secretpw") == false)
        }
        #expect(throws: PostgresStoreError.self) { try PostgresURL(parsing: "postgres://r@h/d?sslrootcert=") }
    }

    @Test("the TLS configuration trusts only sslrootcert's CA, checks the host name except with verify-ca, and names an unreadable file")
    func configuration() async throws {
        #expect(try PostgresURL(parsing: "postgres://r@h/d?sslmode=disable").makeTLSConfiguration() == nil)
        let system = try #require(try PostgresURL(parsing: "postgres://r@h/d?sslmode=require").makeTLSConfiguration())
        #expect(system.certificateVerification == .fullVerification)
        #expect(system.trustRoots == .default)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let caPath = directory.appendingPathComponent("ca.pem").path
        // A fixed self-signed certificate is enough here: only its parsing matters.
        try await PostgresTLSTests.run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", directory.appendingPathComponent("ca.key").path, "-out", caPath, "-days", "1", "-subj", "/CN=Rotor test DB CA"])
        let pinned = try #require(try PostgresURL(parsing: "postgres://r@h/d?sslrootcert=\(caPath)").makeTLSConfiguration())
        #expect(pinned.certificateVerification == .fullVerification)
        #expect(pinned.trustRoots == .certificates(try NIOSSLCertificate.fromPEMFile(caPath)))
        let caOnly = try #require(try PostgresURL(parsing: "postgres://r@h/d?sslmode=verify-ca&sslrootcert=\(caPath)").makeTLSConfiguration())
        #expect(caOnly.certificateVerification == .noHostnameVerification)

        let missing = #expect(throws: PostgresStoreError.self) {
            try PostgresURL(parsing: "postgres://r@h/d?sslrootcert=/nonexistent/ca.pem").makeTLSConfiguration()
        }
        #expect(missing?.description == "the database URL's sslrootcert '/nonexistent/ca.pem' cannot be read")
        let garbage = try self.temporaryFile("not a certificate\n")
        let notPEM = #expect(throws: PostgresStoreError.self) { try PostgresURL(parsing: "postgres://r@h/d?sslrootcert=\(garbage)").makeTLSConfiguration() }
        #expect(notPEM?.description.contains("holds no PEM certificate") == true)
    }
}

/// Whether `scripts/postgres-test-server.sh` can run here, and `openssl` make its certificate.
let postgresTLSServerAvailable =
    FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")
    && ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?.isEmpty == false)

/// A real PostgreSQL server with TLS on (`scripts/postgres-test-server.sh start --tls`), its
/// certificate signed by a CA `openssl` makes here.
@Suite(
    .timeLimit(.minutes(1)),
    .enabled(if: postgresTLSServerAvailable, "no PostgreSQL server binaries or openssl: PostgreSQL TLS was NOT tested")
)
struct PostgresTLSTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let logger = Logger(label: "rotor.tls-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs `openssl` with `arguments` (a short, local computation) and waits for it.
    static func run(_ arguments: [String], executable: String = "/usr/bin/openssl") async throws {
        guard try await Spawned.run(executable, arguments) == 0 else { throw PostgresStoreError("\(executable) \(arguments.first ?? "") failed") }
    }

    /// Runs `command` and returns its standard output once it has exited or printed `marker`,
    /// polling so no concurrency thread waits on the seconds a PostgreSQL server takes to start.
    /// (The script may print more after the marker, so the marker ends the wait.)
    static func output(of command: [String], until marker: String? = nil) async throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-pgtls-out-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = try Spawned(executable: command[0], arguments: Array(command.dropFirst()), output: file.path)
        var output = ""
        while process.isRunning {
            output = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
            if let marker, output.contains(marker), output.hasSuffix("\n") { return output }
            try await Task.sleep(for: .milliseconds(20))
        }
        guard process.terminationStatus == 0 else { throw PostgresStoreError("\(command.joined(separator: " ")) failed") }
        return try String(contentsOf: file, encoding: .utf8)
    }

    @Test("sslmode=require with sslrootcert connects over TLS to a server whose CA only it knows; other CAs, the system's roots and a wrong host name are refused")
    func privateCA() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-pgtls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        for ca in ["ca", "other-ca"] {
            try await Self.run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", path("\(ca).key"), "-out", path("\(ca).pem"), "-days", "1", "-subj", "/CN=Rotor test \(ca)"])
        }
        // Named `localhost` only: NIOSSL accepts an IP address in the certificate for whatever name
        // the client connected by, so the name check is seen only when connecting by address.
        try Data("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n".utf8).write(to: URL(fileURLWithPath: path("server.ext")))
        try await Self.run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", path("server.key"), "-out", path("server.csr"), "-subj", "/CN=localhost"])
        try await Self.run(["x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-set_serial", "7",
            "-out", path("server.pem"), "-days", "1", "-extfile", path("server.ext")])

        let script = Self.repository.appendingPathComponent("scripts/postgres-test-server.sh").path
        let output = try await Self.output(of: ["/bin/bash", script, "start", "--tls", path("server.pem"), path("server.key")], until: "ROTOR_TEST_PG_DIR=")
        let plainURL = try #require(output.firstMatch(of: /ROTOR_TEST_DATABASE_URL='([^']+)'/)?.output.1)
        let serverDirectory = try #require(output.firstMatch(of: /ROTOR_TEST_PG_DIR='([^']+)'/)?.output.1)
        do {
            try await self.check(base: String(plainURL.replacing("?sslmode=disable", with: "")), path: path)
        } catch {
            _ = try? await Self.output(of: ["/bin/bash", script, "stop", String(serverDirectory)])
            throw error
        }
        _ = try await Self.output(of: ["/bin/bash", script, "stop", String(serverDirectory)])
    }

    private func check(base: String, path: (String) -> String) async throws {
        // The path `rotor serve` takes: the store connects (and migrates) over TLS.
        var url = try PostgresURL(parsing: base + "?sslmode=require&sslrootcert=\(path("ca.pem"))")
        url.host = "localhost"
        let store = try await PostgresStore.connect(url: url, keyring: Keyring.generate(), maximumConnections: 2, logger: Self.logger)
        store.shutdown()
        let connection = try await PostgresConnection.connect(configuration: PostgresConnection.Configuration(url), id: 1, logger: Self.logger)
        let ssl = try await connection.rows("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: Self.logger).first?.bool("ssl")
        try await connection.close()
        #expect(ssl == true)

        for (query, host, why) in [
            ("?sslmode=require&sslrootcert=\(path("other-ca.pem"))", "localhost", "a CA that did not sign the server's certificate"),
            ("?sslmode=require", "localhost", "the system's roots, which do not hold the private CA"),
            ("?sslmode=verify-full&sslrootcert=\(path("ca.pem"))", "127.0.0.1", "the certificate does not name 127.0.0.1"),
        ] {
            var url = try PostgresURL(parsing: base + query)
            url.host = host
            let error = await #expect(throws: PostgresStoreError.self, "\(why)") {
                let store = try await PostgresStore.connect(url: url, keyring: Keyring.generate(), logger: Self.logger)
                store.shutdown()
            }
            #expect(error?.description.contains("cannot open the PostgreSQL database") == true, "\(String(describing: error))")
        }
        // verify-ca checks the CA but not the name.
        var byAddress = try PostgresURL(parsing: base + "?sslmode=verify-ca&sslrootcert=\(path("ca.pem"))")
        byAddress.host = "127.0.0.1"
        let caOnly = try await PostgresStore.connect(url: byAddress, keyring: Keyring.generate(), maximumConnections: 2, logger: Self.logger)
        caOnly.shutdown()
    }
}
