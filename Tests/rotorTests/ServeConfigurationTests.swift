import Foundation
import Logging
import RotorAPI
import RotorCore
import RotorCrypto
import RotorHTTP
import RotorPostgres
@testable import rotor
import Testing

@Suite struct ServeConfigurationTests {
    static let token = "rtr_0123456789abcdefghijklmnopqrstuvwxyzABCDEF"
    static let masterKey = Data((0..<32).map { UInt8($0) }).base64EncodedString()

    private func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private func resolve(_ environment: [String: String], flags: ServeFlags = ServeFlags()) throws(ConfigurationError) -> ServeConfiguration {
        var flags = flags
        if flags.dataDir == nil, environment["ROTOR_DATA_DIR"] == nil {
            flags.dataDir = (try? self.temporaryDirectory()).map { $0 + "/data" }
        }
        return try ServeConfiguration.resolve(flags: flags, environment: environment)
    }

    private func problems(_ environment: [String: String], flags: ServeFlags = ServeFlags()) -> [String] {
        do {
            _ = try self.resolve(environment, flags: flags)
            return []
        } catch {
            return error.problems
        }
    }

    @Test("without token and keyring it refuses, naming exactly what to set")
    func refusesWithoutSecrets() {
        let problems = self.problems([:])
        #expect(problems.count == 2)
        #expect(problems.contains { $0.contains("ROTOR_ADMIN_TOKEN is not set") })
        #expect(problems.contains { $0.contains("ROTOR_MASTER_KEY") && $0.contains("ROTOR_KEYRING_FILE") })
        let description = ConfigurationError(problems: problems).description
        #expect(description.contains("rotor serve --dev"))
    }

    @Test("ROTOR_RETENTION sets how long old records are kept: 30 days by default; a duration of months or a bad one is refused")
    func retention() throws {
        let base = ["ROTOR_ADMIN_TOKEN": Self.token, "ROTOR_MASTER_KEY": Self.masterKey]
        #expect(try self.resolve(base).retention.age == 30 * 86_400)
        var environment = base
        environment["ROTOR_RETENTION"] = "P7DT12H"
        #expect(try self.resolve(environment).retention.age == 7.5 * 86_400)
        for bad in ["P1M", "thirty days", "PT0S"] {
            environment["ROTOR_RETENTION"] = bad
            let problems = self.problems(environment)
            #expect(problems.count == 1 && problems.first?.contains("ROTOR_RETENTION '\(bad)'") == true, "\(bad): \(problems)")
        }
    }

    @Test("ROTOR_OUTBOUND_ALLOW: public addresses only by default; listed ranges and names are added")
    func outboundPolicy() throws {
        let base = ["ROTOR_ADMIN_TOKEN": Self.token, "ROTOR_MASTER_KEY": Self.masterKey]
        #expect(try self.resolve(base).outboundPolicy == OutboundPolicy())
        var environment = base
        environment["ROTOR_OUTBOUND_ALLOW"] = "10.9.0.0/16, hooks.internal"
        let policy = try self.resolve(environment).outboundPolicy
        #expect(policy.permits(IPAddress("10.9.1.1")!) && !policy.permits(IPAddress("10.8.1.1")!))
        #expect(policy.permits(hostName: "hooks.internal"))
    }

    @Test("ROTOR_AUDIT_CHECKPOINT_INTERVAL sets how often audit checkpoints are signed: hourly by default; a bad one is refused")
    func auditCheckpointInterval() throws {
        let base = ["ROTOR_ADMIN_TOKEN": Self.token, "ROTOR_MASTER_KEY": Self.masterKey]
        #expect(try self.resolve(base).auditCheckpointInterval == 3_600)
        var environment = base
        environment["ROTOR_AUDIT_CHECKPOINT_INTERVAL"] = "PT5M"
        #expect(try self.resolve(environment).auditCheckpointInterval == 300)
        for bad in ["hourly", "PT0S"] {
            environment["ROTOR_AUDIT_CHECKPOINT_INTERVAL"] = bad
            let problems = self.problems(environment)
            #expect(problems.count == 1 && problems.first?.contains("ROTOR_AUDIT_CHECKPOINT_INTERVAL '\(bad)'") == true, "\(bad): \(problems)")
        }
    }

    @Test("ROTOR_DATABASE_URL selects PostgreSQL; a bad one is refused without showing its password")
    func databaseURL() throws {
        let base = ["ROTOR_ADMIN_TOKEN": Self.token, "ROTOR_MASTER_KEY": Self.masterKey]
        #expect(try self.resolve(base).databaseURL == nil)
        var environment = base
        environment["ROTOR_DATABASE_URL"] = "postgres://rotor:hunter2-secret@db.example:5433/rotor"
        let url = try #require(try self.resolve(environment).databaseURL)
        #expect(url.host == "db.example" && url.port == 5433 && url.database == "rotor" && url.password == "hunter2-secret")
        environment["ROTOR_DATABASE_URL"] = "postgres://rotor:hunter2-secret@db.example:5433/"
        let problems = self.problems(environment)
        #expect(problems.count == 1)
        #expect(problems.first?.contains("ROTOR_DATABASE_URL") == true)
        #expect(problems.allSatisfy { !$0.contains("hunter2") })
    }

    @Test("a token and a master key are enough; defaults apply")
    func minimal() throws {
        let configuration = try self.resolve(["ROTOR_ADMIN_TOKEN": Self.token, "ROTOR_MASTER_KEY": Self.masterKey])
        #expect(configuration.adminToken == Self.token)
        #expect(configuration.keyring.activeKeyID == "master")
        #expect(configuration.http.host == "127.0.0.1")
        #expect(configuration.http.port == 8080)
        #expect(configuration.logLevel == .info)
        #expect(configuration.logFormat == .text)
        #expect(configuration.eventLoops == nil)
        #expect(configuration.notices.isEmpty)
        #expect(configuration.outboxRetry.base == .seconds(5) && configuration.outboxRetry.maximum == .seconds(3600))
        #expect(configuration.rateLimits == .defaults)
        #expect(configuration.rateLimits.perToken == .init(rate: 50, burst: 100))
        #expect(configuration.rateLimits.signed == .init(rate: 2, burst: 20))
        let tuned = try self.resolve([
            "ROTOR_ADMIN_TOKEN": Self.token, "ROTOR_MASTER_KEY": Self.masterKey, "ROTOR_EVENT_LOOPS": "1",
            "ROTOR_OUTBOX_RETRY_BASE": "PT0.2S", "ROTOR_OUTBOX_RETRY_MAX": "PT2S", "ROTOR_LOG_FORMAT": "JSON",
            "ROTOR_RATE_LIMIT_RPS": "0.5", "ROTOR_RATE_LIMIT_BURST": "7", "ROTOR_HOOK_RATE_LIMIT_RPS": "0",
        ])
        #expect(tuned.rateLimits.perToken == .init(rate: 0.5, burst: 7))
        #expect(tuned.rateLimits.signed == nil)
        #expect(tuned.eventLoops == 1)
        #expect(tuned.logFormat == .json)
        #expect(tuned.outboxRetry.base == .milliseconds(200) && tuned.outboxRetry.maximum == .seconds(2))
    }

    @Test("flags override the environment")
    func flagsOverride() throws {
        let directory = try self.temporaryDirectory()
        let configuration = try self.resolve(
            ["ROTOR_ADMIN_TOKEN": Self.token, "ROTOR_MASTER_KEY": Self.masterKey, "ROTOR_LISTEN": "0.0.0.0:1", "ROTOR_DATA_DIR": directory + "/env"],
            flags: ServeFlags(listen: "[::1]:9443", dataDir: directory + "/flag")
        )
        #expect(configuration.http.host == "::1")
        #expect(configuration.http.port == 9443)
        #expect(configuration.dataDirectory == directory + "/flag")
        #expect(FileManager.default.fileExists(atPath: directory + "/flag"))
    }

    @Test("bad values are each reported", arguments: [
        (["ROTOR_LISTEN": "nonsense"], "ROTOR_LISTEN"),
        (["ROTOR_LISTEN": "127.0.0.1:99999"], "ROTOR_LISTEN"),
        (["ROTOR_LOG_LEVEL": "loud"], "ROTOR_LOG_LEVEL"),
        (["ROTOR_LOG_FORMAT": "xml"], "ROTOR_LOG_FORMAT"),
        (["ROTOR_EVENT_LOOPS": "0"], "ROTOR_EVENT_LOOPS"),
        (["ROTOR_EVENT_LOOPS": "many"], "ROTOR_EVENT_LOOPS"),
        (["ROTOR_ADMIN_TOKEN": "short"], "at least 16 characters"),
        (["ROTOR_ADMIN_TOKEN": "has spaces in it but is long"], "at least 16 characters"),
        (["ROTOR_MASTER_KEY": "bm90IDMyIGJ5dGVz"], "ROTOR_MASTER_KEY"),
        (["ROTOR_KEYRING_FILE": "/nonexistent/keyring.json"], "ROTOR_KEYRING_FILE"),
        (["ROTOR_KEYRING_FILE": "/x", "ROTOR_MASTER_KEY": "y"], "set only one"),
        (["ROTOR_OUTBOX_RETRY_BASE": "soon"], "ROTOR_OUTBOX_RETRY_BASE"),
        (["ROTOR_OUTBOX_RETRY_MAX": "PT0S"], "ROTOR_OUTBOX_RETRY_MAX"),
        (["ROTOR_RATE_LIMIT_RPS": "-1"], "ROTOR_RATE_LIMIT_RPS"),
        (["ROTOR_HOOK_RATE_LIMIT_RPS": "fast"], "ROTOR_HOOK_RATE_LIMIT_RPS"),
        (["ROTOR_RATE_LIMIT_BURST": "0"], "ROTOR_RATE_LIMIT_BURST"),
        (["ROTOR_OUTBOUND_ALLOW": "10.0.0.0/8,10.0.0.0/40"], "ROTOR_OUTBOUND_ALLOW: '10.0.0.0/40' is not a CIDR"),
        (["ROTOR_LISTEN": "0.0.0.0:8080"], "'0.0.0.0:8080' is not a loopback address and TLS is off"),
        (["ROTOR_LISTEN": "[::]:8080"], "is not a loopback address and TLS is off"),
        (["ROTOR_LISTEN": "10.1.2.3:8080", "ROTOR_ALLOW_PLAINTEXT": "0"], "ROTOR_ALLOW_PLAINTEXT=1"),
        (["ROTOR_ALLOW_PLAINTEXT": "maybe"], "ROTOR_ALLOW_PLAINTEXT 'maybe'"),
        (["ROTOR_TLS_KEY_FILE": "/etc/key.pem"], "ROTOR_TLS_CERT_FILE is not"),
        (["ROTOR_TLS_CERT_FILE": "/nonexistent/cert.pem", "ROTOR_TLS_KEY_FILE": "/nonexistent/key.pem"], "ROTOR_TLS_KEY_FILE '/nonexistent/key.pem' cannot be read"),
        (["ROTOR_DATABASE_URL": "postgres://r@h/d?sslrootcert=/nonexistent/ca.pem"], "sslrootcert '/nonexistent/ca.pem' cannot be read"),
        (["ROTOR_DATABASE_URL": "postgres://r@h/d?sslmode=prefer&sslrootcert=/ca.pem"], "sslrootcert needs sslmode=require"),
    ])
    func badValues(overrides: [String: String], expected: String) {
        var environment = ["ROTOR_ADMIN_TOKEN": Self.token, "ROTOR_MASTER_KEY": Self.masterKey]
        environment.merge(overrides) { $1 }
        let problems = self.problems(environment)
        #expect(problems.contains { $0.contains(expected) }, "\(problems)")
    }

    @Test("a non-loopback listen address is accepted with ROTOR_ALLOW_PLAINTEXT=1; loopback ones need nothing")
    func plaintextChoice() throws {
        let base = ["ROTOR_ADMIN_TOKEN": Self.token, "ROTOR_MASTER_KEY": Self.masterKey]
        let allowed = try self.resolve(base.merging(["ROTOR_LISTEN": "0.0.0.0:8080", "ROTOR_ALLOW_PLAINTEXT": "1"]) { $1 })
        #expect(allowed.allowPlaintext && !allowed.isLoopbackListen && allowed.http.tls == nil)
        for address in ["127.0.0.1:8080", "localhost:8080", "[::1]:8080"] {
            let configuration = try self.resolve(base.merging(["ROTOR_LISTEN": address]) { $1 })
            #expect(configuration.isLoopbackListen && !configuration.allowPlaintext, "\(address)")
        }
    }

    @Test("--dev creates an owner-only data directory, keyring and admin token once, then reuses them")
    func devBootstrap() throws {
        let directory = try self.temporaryDirectory() + "/data"
        let first = try self.resolve([:], flags: ServeFlags(dataDir: directory, dev: true))
        #expect(first.adminToken.hasPrefix("rtr_"))
        #expect(first.notices.contains { $0.contains(first.adminToken) })
        for (path, mode) in [(directory, 0o700), (directory + "/admin-token", 0o600), (directory + "/keyring.json", 0o600)] {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? Int) == mode, "\(path)")
        }
        let second = try self.resolve([:], flags: ServeFlags(dataDir: directory, dev: true))
        #expect(second.adminToken == first.adminToken)
        #expect(second.keyring.activeKeyID == first.keyring.activeKeyID)
        #expect(!second.notices.contains { $0.contains("created") })
    }

    @Test("--dev does not override a configured token or keyring")
    func devRespectsConfiguration() throws {
        let directory = try self.temporaryDirectory() + "/data"
        let configuration = try self.resolve(
            ["ROTOR_ADMIN_TOKEN": Self.token, "ROTOR_MASTER_KEY": Self.masterKey],
            flags: ServeFlags(dataDir: directory, dev: true)
        )
        #expect(configuration.adminToken == Self.token)
        #expect(configuration.keyring.activeKeyID == "master")
        #expect(!FileManager.default.fileExists(atPath: directory + "/admin-token"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/keyring.json"))
    }

    @Test("secret settings come from NAME_FILE too (trailing newline dropped); both set, or an unreadable or empty file, is refused without the value")
    func secretsFromFiles() throws {
        let directory = try self.temporaryDirectory()
        func file(_ name: String, _ contents: String) throws -> String {
            let path = directory + "/" + name
            try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
        let configuration = try self.resolve([
            "ROTOR_ADMIN_TOKEN_FILE": try file("token", Self.token + "\n"),
            "ROTOR_MASTER_KEY_FILE": try file("master", Self.masterKey + "\n"),
            "ROTOR_DATABASE_URL_FILE": try file("url", "postgres://rotor:s3cret-pw@db.example:5432/rotor\n"),
        ])
        #expect(configuration.adminToken == Self.token)
        #expect(configuration.databaseURL?.password == "s3cret-pw")

        let both = self.problems(["ROTOR_ADMIN_TOKEN": Self.token, "ROTOR_ADMIN_TOKEN_FILE": try file("token2", Self.token), "ROTOR_MASTER_KEY": Self.masterKey])
        #expect(both == ["ROTOR_ADMIN_TOKEN and ROTOR_ADMIN_TOKEN_FILE are both set: set only one"])
        let missing = self.problems(["ROTOR_ADMIN_TOKEN": Self.token, "ROTOR_MASTER_KEY_FILE": directory + "/nope"])
        #expect(missing.count == 1 && missing[0].contains("ROTOR_MASTER_KEY_FILE") && missing[0].contains("cannot be read"), "\(missing)")
        let empty = self.problems(["ROTOR_ADMIN_TOKEN_FILE": try file("empty", "\n"), "ROTOR_MASTER_KEY": Self.masterKey])
        #expect(empty.count == 1 && empty[0].contains("is empty"), "\(empty)")
        // A wrong value read from a file is reported by name, never echoed.
        let wrong = self.problems(["ROTOR_ADMIN_TOKEN": Self.token, "ROTOR_MASTER_KEY_FILE": try file("bad", "not-a-key-x9")])
        #expect(!wrong.joined().contains("not-a-key-x9"))
    }

    @Test("an admin token with less than 128 bits of estimated entropy is refused, saying how to make one", arguments: [
        "aaaaaaaaaaaaaaaa", "changeme-changeme", "rtr_0123456789abcdef0123456789", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ])
    func weakAdminToken(token: String) {
        let problems = self.problems(["ROTOR_ADMIN_TOKEN": token, "ROTOR_MASTER_KEY": Self.masterKey])
        #expect(problems.count == 1, "\(problems)")
        #expect(problems.first?.contains("128 bits") == true && problems.first?.contains("openssl rand -hex 32") == true)
        #expect(problems.first?.contains(token) == false)
    }

    @Test("tokens made the documented ways are accepted")
    func strongAdminTokens() {
        let hex = SecureRandom.bytes(count: 32).map { String(format: "%02x", $0) }.joined()
        let base64 = Data(SecureRandom.bytes(count: 32)).base64EncodedString()
        for token in [hex, base64, SecureRandom.token(prefix: "rtr_")] {
            #expect(self.problems(["ROTOR_ADMIN_TOKEN": token, "ROTOR_MASTER_KEY": Self.masterKey]).isEmpty, "\(token.count) characters")
        }
    }
}
