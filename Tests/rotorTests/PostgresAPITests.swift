import FakeVultr
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorCore
import RotorCrypto
import RotorHTTP
import RotorPostgres
@testable import rotor
import Testing
import RotorAssembly

/// Issue 6: with `ROTOR_DATABASE_URL` the API's tokens, audit log and store metrics come from the
/// PostgreSQL store, as they do from SQLite.
@Suite(.enabled(if: MultiInstanceDatabase.url != nil, "ROTOR_TEST_DATABASE_URL is not set: the PostgreSQL API test did NOT run"), .timeLimit(.minutes(1)))
struct PostgresAPITests {
    static let logger = Logger(label: "rotor.pg-api-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    private static func call(
        _ responder: RouterResponder, _ method: HTTPMethod, _ uri: String, token: String, json: String? = nil
    ) async throws -> (status: HTTPResponseStatus, body: String) {
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: "Bearer \(token)")
        if json != nil { headers.add(name: "Content-Type", value: "application/json") }
        let response = try await responder.respond(
            to: Request(method: method, uri: uri, headers: headers, body: ByteBuffer(string: json ?? ""), logger: Self.logger))
        return (response.status, String(buffer: response.body))
    }

    @Test("a token issued through the API authenticates from PostgreSQL; the audit log, rotor audit verify and /metrics read it too")
    func tokensAuditMetrics() async throws {
        let schema = try await TestSchema.create("test_api_")
        let dataDirectory = NSTemporaryDirectory() + "rotor-pg-api-\(UUID().uuidString)"
        try DataDirectory.prepare(dataDirectory)
        let assembly = try await RotorAssembly(
            RotorAssembly.Settings(
                dataDirectory: dataDirectory, keyring: Keyring.generate(), adminToken: ServeConfigurationTests.token,
                vultrBaseURL: "http://127.0.0.1:9", retry: RetryPolicy(base: .milliseconds(50), maximum: .milliseconds(200), attemptsPerStep: 2),
                maxConcurrentJobs: 2, databaseURL: schema.url),
            logger: Self.logger)
        do {
            #expect(assembly.postgres != nil)
            let responder = assembly.responder
            let created = try await Self.call(
                responder, .POST, "/v1/tokens", token: ServeConfigurationTests.token, json: #"{"name": "reader", "scopes": ["jobs:read"]}"#)
            #expect(created.status == .created)
            let body = try #require(JSONSerialization.jsonObject(with: Data(created.body.utf8)) as? [String: Any])
            let value = try #require(body["token"] as? String)
            let id = try #require(body["id"] as? String)

            let whoami = try await Self.call(responder, .GET, "/v1/whoami", token: value)
            #expect(whoami.status == .ok)
            #expect(whoami.body.contains(id))
            // The scope holds: this token may not list tokens.
            #expect(try await Self.call(responder, .GET, "/v1/tokens", token: value).status == .forbidden)

            let audit = try await Self.call(responder, .GET, "/v1/audit", token: ServeConfigurationTests.token)
            #expect(audit.status == .ok)
            #expect(audit.body.contains("token.create"))
            #expect(audit.body.contains(id))
            let audited = assembly.store
            #expect(try await audited.verifyAuditChain() == .intact(count: 1))

            // Revoked on PostgreSQL: refused on the next request.
            #expect(try await Self.call(responder, .DELETE, "/v1/tokens/\(id)", token: ServeConfigurationTests.token).status == .noContent)
            #expect(try await Self.call(responder, .GET, "/v1/whoami", token: value).status == .unauthorized)

            let metrics = try await Self.call(responder, .GET, "/metrics", token: ServeConfigurationTests.token)
            #expect(metrics.status == .ok)
            #expect(metrics.body.contains("rotor_outbox_pending_deliveries"))

            // `rotor audit verify` reads the same chain from PostgreSQL: create and delete. The
            // delete's record is chained in the background; the store's own verify chains what is
            // staged first, so the read-only verifier below sees both.
            #expect(try await audited.verifyAuditChain() == .intact(count: 2))
            let verifier = try RotorProcessTests.RunningRotor(
                arguments: ["audit", "verify"],
                environment: ["ROTOR_DATABASE_URL": schema.connectionString, "ROTOR_DATA_DIR": dataDirectory])
            #expect(try await verifier.exitStatus() == 0, "\(verifier.errors)")
            #expect(verifier.output.contains("audit log intact: 2 entries"), "\(verifier.output)")
            try await TestSchema.admin("UPDATE \(schema.name).audit_log SET actor = 'someone-else' WHERE seq = 1")
            let tampered = try RotorProcessTests.RunningRotor(
                arguments: ["audit", "verify"],
                environment: ["ROTOR_DATABASE_URL": schema.connectionString, "ROTOR_DATA_DIR": dataDirectory])
            #expect(try await tampered.exitStatus() == 1)
            #expect(tampered.output.contains("BROKEN at entry 1"), "\(tampered.output)")
        } catch {
            assembly.postgres?.shutdown()
            throw error
        }
        assembly.postgres?.shutdown()
        try await assembly.shutdownClients()
        try? FileManager.default.removeItem(atPath: dataDirectory)
        try await schema.drop()
    }

    @Test("rotor keyring rewrap, verify and remove work on the PostgreSQL database named by ROTOR_DATABASE_URL")
    func keyringCommands() async throws {
        let schema = try await TestSchema.create("test_kek_")
        let directory = NSTemporaryDirectory() + "rotor-pg-kek-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/keyring.json"
        let environment = ["ROTOR_DATABASE_URL": schema.connectionString, "ROTOR_KEYRING_FILE": file, "ROTOR_DATA_DIR": directory]
        func rotor(_ arguments: [String]) async throws -> (status: Int32, output: String, errors: String) {
            let process = try RotorProcessTests.RunningRotor(arguments: arguments, environment: environment)
            let status = try await process.exitStatus()
            return (status, process.output, process.errors)
        }
        #expect(try await rotor(["keyring", "generate", "--id", "kek-old"]).status == 0)

        // A credential sealed under kek-old, in PostgreSQL only (no rotor.sqlite is made).
        let url = schema.url
        let seeded = try await PostgresStore.connect(url: url, keyring: try Keyring.load(fromFile: file), maximumConnections: 2, logger: Self.logger)
        let now = Date()
        let credential = Credential(
            id: .generate(), name: "sealed", provider: .vultr, current: KeyInfo(providerKeyID: "k1", fingerprint: "sha256:x", createdAt: now),
            targets: [], labels: [:], createdAt: now, updatedAt: now)
        try await seeded.createCredential(credential, secrets: CredentialSecrets(current: Secret("pg-secret-value"), previous: Secret("pg-previous")))
        seeded.shutdown()

        #expect(try await rotor(["keyring", "add", "--id", "kek-new"]).status == 0)
        let rewrap = try await rotor(["keyring", "rewrap"])
        #expect(rewrap.status == 0, "\(rewrap.errors)")
        #expect(rewrap.output.contains("2"), "\(rewrap.output)")
        let removed = try await rotor(["keyring", "remove", "kek-old"])
        #expect(removed.status == 0, "\(removed.errors)")
        let verified = try await rotor(["keyring", "verify"])
        #expect(verified.status == 0, "\(verified.errors)")
        #expect(verified.output.contains("kek-new: 2"), "\(verified.output)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/rotor.sqlite"))

        let after = try await PostgresStore.connect(url: url, keyring: try Keyring.load(fromFile: file), maximumConnections: 2, logger: Self.logger)
        let secrets = try await after.credentialSecrets(credential.id)
        after.shutdown()
        #expect(secrets.current == Secret("pg-secret-value"))
        #expect(secrets.previous == Secret("pg-previous"))
        try await schema.drop()
    }
}
