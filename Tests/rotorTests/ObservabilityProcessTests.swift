import AsyncHTTPClient
import ChildProcess
import Foundation
import NIOCore
import NIOHTTP1
import Testing

extension RotorProcessTests {
    @Test("ROTOR_LOG_FORMAT=json: every stderr line is a JSON object, request lines carry the request id, no token; /metrics is served")
    func jsonLogsAndMetrics() async throws {
        let rotor = try RunningRotor(
            arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", NSTemporaryDirectory() + "rotor-json-\(UUID().uuidString)"],
            environment: [
                "ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token, "ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey,
                "ROTOR_LOG_FORMAT": "json",
            ]
        )
        let port = try await rotor.port()
        var whoami = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/whoami")
        whoami.headers.add(name: "Authorization", value: "Bearer \(ServeConfigurationTests.token)")
        whoami.headers.add(name: "X-Request-Id", value: "json-log-test-1")
        #expect(try await HTTPClient.shared.execute(whoami, timeout: .seconds(30)).status == .ok)

        let metrics = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(30))
        #expect(metrics.status == .ok)
        #expect(metrics.headers.first(name: "Content-Type")?.hasPrefix("text/plain") == true)
        let scrape = String(buffer: try await metrics.body.collect(upTo: 1 << 20))
        #expect(scrape.contains(#"rotor_http_requests_total{method="GET",route="/v1/whoami",status="200"} 1"#))
        #expect(scrape.contains(#"rotor_provider_calls_total{provider="vultr",operation="create_key",outcome="success"} 0"#))
        #expect(scrape.contains(#"rotor_jobs{state="running"} 0"#))
        #expect(scrape.contains("rotor_outbox_pending_deliveries 0"))
        #expect(scrape.contains(#"rotor_retention_pruned_rows_total{kind="outbox"} 0"#))
        #expect(scrape.contains(#"rotor_retention_pruned_rows_total{kind="target_deliveries"} 0"#))

        rotor.process.terminate()
        #expect(try await rotor.exitStatus() == 0)
        let lines = rotor.errors.split(separator: "\n")
        #expect(lines.count >= 3)
        var requestLine: [String: Any]?
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
            #expect(object["timestamp"] is String && object["level"] is String && object["message"] is String)
            if (object["metadata"] as? [String: Any])?["request_id"] as? String == "json-log-test-1" {
                requestLine = object
            }
        }
        let request = try #require(requestLine, "no line with the request id in: \(rotor.errors)")
        #expect((request["metadata"] as? [String: Any])?["http.path"] as? String == "/v1/whoami")
        #expect(!rotor.errors.contains(ServeConfigurationTests.token))
    }
}

extension RotorProcessTests {
    @Test("an unauthenticated request whose path decodes to a newline and terminal escapes cannot forge a log line (text layout)")
    func logInjection() async throws {
        let rotor = try RunningRotor(
            arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", NSTemporaryDirectory() + "rotor-inject-\(UUID().uuidString)"],
            environment: ["ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token, "ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey]
        )
        let port = try await rotor.port()
        // What the adversarial review sent: a percent-encoded newline, a forged line, an ANSI colour.
        let path = "/x%0A2026-12-02T10:00:00+0000%20critical%20rotor:%20forged%1B[31m%0D%7F%C2%9B"
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(30))
        #expect(response.status == .notFound)
        rotor.process.terminate()
        #expect(try await rotor.exitStatus() == 0)
        let log = try Data(contentsOf: rotor.stderr)
        #expect(!log.contains(0x1B) && !log.contains(0x0D) && !log.contains(0x7F), "a control byte reached the log")
        let lines = String(decoding: log, as: UTF8.self).split(separator: "\n")
        #expect(!lines.contains { $0.hasPrefix("2026-12-02T10:00:00+0000 critical") }, "a forged line reached the log")
        // The request is logged once, on its own line (its target as received, still percent-encoded).
        #expect(lines.filter { $0.contains("http.path=/x%0A2026-12-02T10:00:00+0000%20critical") }.count == 1, "\(lines)")
    }
}
