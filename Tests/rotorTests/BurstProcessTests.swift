import AsyncHTTPClient
import ChildProcess
import FakeVultr
import Foundation
import RotorHTTP
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 11: no burst of requests may hang the server. A real `rotor serve` takes 1,000
/// simultaneous reads made with store-issued tokens (the burst that hung it for good: every
/// cooperative thread blocked in SQLite's reader pool), and separately 1,000 simultaneous
/// unauthenticated `GET /metrics`. Every request must get an answer (200, or a clear 503/429),
/// and afterwards `/healthz` answers, a store-token read answers 200 and a rotation succeeds.
///
/// A load test: 2,000 connections at once would starve the timing-sensitive tests running beside
/// it, so it runs only with `ROTOR_LOAD_TESTS=1`, which `.ci/run` sets for a run of its own after
/// the suite.
@Suite(
    .timeLimit(.minutes(3)), .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["ROTOR_LOAD_TESTS"] == "1", "ROTOR_LOAD_TESTS is not 1: the burst tests did NOT run"))
struct BurstProcessTests {
    static let burst = 1_000

    @Test("SQLite: 1,000 simultaneous store-token reads, then 1,000 /metrics: every request answered, then /healthz, reads and a rotation work")
    func sqlite() async throws {
        try await Self.run(databaseURL: nil)
    }

    @Test(
        "PostgreSQL: 1,000 simultaneous store-token reads, then 1,000 /metrics: every request answered, then /healthz, reads and a rotation work",
        .enabled(if: MultiInstanceDatabase.url != nil, "ROTOR_TEST_DATABASE_URL is not set: the PostgreSQL burst test did NOT run"))
    func postgres() async throws {
        let schema = try await TestSchema.create("test_burst_")
        do {
            try await Self.run(databaseURL: schema.connectionString)
        } catch {
            try? await schema.drop()
            throw error
        }
        try await schema.drop()
    }

    private static func run(databaseURL: String?) async throws {
        FileLimit.raiseToMaximum()
        let fake = FakeVultr(configuration: .init(rateLimitPerSecond: nil))
        try await fake.run { vultrURL in
            var environment = [
                "ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token,
                "ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey,
                "ROTOR_VULTR_BASE_URL": vultrURL,
                "ROTOR_RETRY_BASE": "PT0.05S",
                // As in the report: per-token rate limits off, so only the server's own caps answer.
                "ROTOR_RATE_LIMIT_RPS": "0",
            ]
            if let databaseURL { environment["ROTOR_DATABASE_URL"] = databaseURL }
            let dataDirectory = NSTemporaryDirectory() + "rotor-burst-\(UUID().uuidString)"
            let rotor = try RotorProcessTests.RunningRotor(
                arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory], environment: environment)
            defer { if rotor.process.isRunning { rotor.process.terminate() } }
            let port = try await rotor.port()
            let admin = { (method: HTTPMethod, path: String, body: String?) in
                try await RotorProcessTests.api(port: port, token: ServeConfigurationTests.token, method, path, body)
            }

            let (_, key) = fake.addUser()
            let (created, credential) = try await admin(.POST, "/v1/credentials", #"{"name":"burst","provider":"vultr","secret":"\#(key)","targets":[]}"#)
            let credentialID = try #require(credential["id"] as? String, "\(created) \(credential)")
            let jobID = try await Self.rotate(credentialID, admin)

            // Ten tokens issued by the store, as ten services reading jobs would hold.
            var issued: [String] = []
            for index in 0..<10 {
                let (_, token) = try await admin(.POST, "/v1/tokens", #"{"name":"reader-\#(index)","scopes":["jobs:read"]}"#)
                issued.append(try #require(token["token"] as? String))
            }
            let tokens = issued

            let client = HTTPClient(
                eventLoopGroupProvider: .singleton,
                configuration: .init(connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: Self.burst)))
            defer { _ = client.shutdown() }

            let reads = try await Self.burst(client, count: Self.burst) { index in
                Self.request(port: port, "/v1/jobs/\(jobID)", token: tokens[index % tokens.count])
            }
            #expect(reads.unanswered == 0, "requests never answered: \(reads)")
            #expect(reads.unexpected.isEmpty, "answers other than 200, 503 or 429: \(reads)")
            #expect(reads.ok > 0, "no read succeeded: \(reads)")
            try await Self.expectServing(port: port, jobID: jobID, token: tokens[0], credentialID: credentialID, admin)

            let metrics = try await Self.burst(client, count: Self.burst) { _ in Self.request(port: port, "/metrics", token: nil) }
            #expect(metrics.unanswered == 0, "requests never answered: \(metrics)")
            #expect(metrics.unexpected.isEmpty, "answers other than 200, 503 or 429: \(metrics)")
            try await Self.expectServing(port: port, jobID: jobID, token: tokens[1], credentialID: credentialID, admin)

            // The server still stops on SIGTERM (the hung one ignored it).
            rotor.process.terminate()
            #expect(try await rotor.exitStatus(within: .seconds(15)) == 0, "\(rotor.errors.suffix(2000))")
        }
    }

    /// Starts a rotation and waits for it to succeed; returns the job's id.
    private static func rotate(
        _ credentialID: String, _ admin: (HTTPMethod, String, String?) async throws -> (HTTPResponseStatus, [String: Any])
    ) async throws -> String {
        let (status, job) = try await admin(.POST, "/v1/jobs", #"{"credential_id":"\#(credentialID)"}"#)
        let jobID = try #require(job["id"] as? String, "\(status) \(job)")
        let (_, finished) = try await admin(.GET, "/v1/jobs/\(jobID)?wait=PT30S", nil)
        #expect(finished["state"] as? String == "succeeded", "\(finished)")
        return jobID
    }

    /// After a burst: `/healthz` answers within 2 s, a store-token read answers 200, a rotation succeeds.
    private static func expectServing(
        port: Int, jobID: String, token: String, credentialID: String,
        _ admin: (HTTPMethod, String, String?) async throws -> (HTTPResponseStatus, [String: Any])
    ) async throws {
        let health = try await HTTPClient.shared.execute(Self.request(port: port, "/healthz", token: nil), timeout: .seconds(2))
        #expect(health.status == .ok)
        let read = try await HTTPClient.shared.execute(Self.request(port: port, "/v1/jobs/\(jobID)", token: token), timeout: .seconds(30))
        #expect(read.status == .ok)
        _ = try await Self.rotate(credentialID, admin)
    }

    private static func request(port: Int, _ path: String, token: String?) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        return request
    }

    struct Tally: CustomStringConvertible {
        var ok = 0
        var refused = 0
        var unanswered = 0
        var unexpected: [String] = []
        var description: String {
            "\(ok) ok, \(refused) 503/429, \(unanswered) unanswered, \(unexpected.count) unexpected (first: \(unexpected.prefix(3)))"
        }
    }

    /// Sends `count` requests at once, each on its own connection, and tallies the answers. A
    /// request unanswered after 30 s counts as unanswered (the hang this guards against).
    private static func burst(_ client: HTTPClient, count: Int, _ make: @escaping @Sendable (Int) -> HTTPClientRequest) async throws -> Tally {
        try await withThrowingTaskGroup(of: Result<HTTPResponseStatus, any Error>.self) { group in
            for index in 0..<count {
                group.addTask {
                    do {
                        let response = try await client.execute(make(index), timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 20)
                        return .success(response.status)
                    } catch {
                        return .failure(error)
                    }
                }
            }
            var tally = Tally()
            for try await outcome in group {
                switch outcome {
                case .success(.ok): tally.ok += 1
                case .success(.serviceUnavailable), .success(.tooManyRequests): tally.refused += 1
                case .success(let status): tally.unexpected.append("\(status.code)")
                case .failure(let error):
                    if let error = error as? HTTPClientError,
                        [.deadlineExceeded, .readTimeout, .getConnectionFromPoolTimeout, .connectTimeout].contains(error)
                    {
                        tally.unanswered += 1
                    } else {
                        tally.unexpected.append("\(error)")
                    }
                }
            }
            return tally
        }
    }

}
