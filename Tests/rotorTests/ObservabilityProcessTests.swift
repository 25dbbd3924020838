import AsyncHTTPClient
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
        #expect(try await HTTPClient.shared.execute(whoami, timeout: .seconds(5)).status == .ok)

        let metrics = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(5))
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
