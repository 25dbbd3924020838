import Foundation
import Logging
import NIOHTTP1
import RotorCore
import RotorHTTP
import Testing

/// `GET /metrics` in-process: HTTP series by route template, and gauges read from the store.
@Suite struct MetricsRoutesTests {
    /// The value of the series `name{labels}` in a scrape, or nil when absent.
    static func value(_ scrape: String, _ series: String) -> Double? {
        for line in scrape.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test("requests are counted by method, route template and status, with latency histograms, and ids never become labels")
    func requestSeries() async throws {
        try await APIHarness.run { api in
            for _ in 0..<3 {
                #expect(try await api.send(.GET, "/healthz", token: nil).status == .ok)
            }
            #expect(try await api.send(.GET, "/v1/credentials/cred_00000000000000000000000001").status == .notFound)
            #expect(try await api.send(.GET, "/v1/credentials/cred_00000000000000000000000002").status == .notFound)
            #expect(try await api.send(.GET, "/v1/whoami", token: nil).status == .unauthorized)
            #expect(try await api.send(.GET, "/no/such/route/123").status == .notFound)
            #expect(try await api.send(.DELETE, "/healthz").status == .methodNotAllowed)

            let reply = try await api.send(.GET, "/metrics", token: nil)
            #expect(reply.status == .ok)
            #expect(reply.headers.first(name: "Content-Type")?.hasPrefix("text/plain") == true)
            let scrape = reply.body
            #expect(Self.value(scrape, #"rotor_http_requests_total{method="GET",route="/healthz",status="200"}"#) == 3)
            #expect(Self.value(scrape, #"rotor_http_requests_total{method="GET",route="/v1/credentials/{id}",status="404"}"#) == 2)
            #expect(Self.value(scrape, #"rotor_http_requests_total{method="GET",route="/v1/whoami",status="401"}"#) == 1)
            #expect(Self.value(scrape, #"rotor_http_requests_total{method="unmatched",route="unmatched",status="404"}"#) == 1)
            #expect(Self.value(scrape, #"rotor_http_requests_total{method="unmatched",route="unmatched",status="405"}"#) == 1)
            #expect(Self.value(scrape, #"rotor_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"}"#) == 3)
            #expect(Self.value(scrape, #"rotor_http_request_duration_seconds_bucket{method="GET",route="/healthz",status="200",le="+Inf"}"#) == 3)
            #expect(scrape.contains(#"rotor_http_request_duration_seconds_bucket{method="GET",route="/healthz",status="200",le="0.001"}"#))
            #expect(scrape.contains("# TYPE rotor_http_request_duration_seconds histogram"))
            // Raw paths and ids stay out: the cardinality is bounded by the routes.
            #expect(!scrape.contains("cred_0000"))
            #expect(!scrape.contains("/no/such"))

            // The scrape itself is counted from the next one on.
            let again = try await api.send(.GET, "/metrics", token: nil).body
            #expect(Self.value(again, #"rotor_http_requests_total{method="GET",route="/metrics",status="200"}"#) == 1)
        }
    }

    @Test("jobs by state and step, and the outbox backlog, are read from the store at each scrape")
    func storeGauges() async throws {
        try await APIHarness.run { api in
            let empty = try await api.send(.GET, "/metrics", token: nil).body
            #expect(Self.value(empty, #"rotor_jobs{state="queued"}"#) == 0)
            #expect(Self.value(empty, "rotor_outbox_pending_deliveries") == 0)

            let subscription = try await api.send(.POST, "/v1/subscriptions", json: ["url": "https://hooks.example/rotor", "events": ["job.cancelled"]])
            #expect(subscription.status == .created, "\(subscription)")
            let (credential, _, _) = try await CredentialRouteTests.create(api)
            let credentialID = try #require(credential["id"])
            let job = try await api.send(.POST, "/v1/jobs", json: ["credential_id": credentialID])
            #expect(job.status == .accepted, "\(job)")
            let jobID = try #require(job["id"])

            let queued = try await api.send(.GET, "/metrics", token: nil).body
            #expect(Self.value(queued, #"rotor_jobs{state="queued"}"#) == 1)
            #expect(Self.value(queued, #"rotor_jobs_active{state="queued",step="create"}"#) == 1)
            #expect(Self.value(queued, #"rotor_jobs_active{state="running",step="create"}"#) == 0)
            #expect(Self.value(queued, "rotor_outbox_pending_deliveries") == 0)

            // Cancelling the queued job ends it, which writes job.cancelled to the outbox.
            #expect(try await api.send(.POST, "/v1/jobs/\(jobID)/cancel").status == .accepted)
            let cancelled = try await api.send(.GET, "/metrics", token: nil).body
            #expect(Self.value(cancelled, #"rotor_jobs{state="queued"}"#) == 0)
            #expect(Self.value(cancelled, #"rotor_jobs_active{state="queued",step="create"}"#) == 0)
            #expect(Self.value(cancelled, #"rotor_jobs{state="cancelled"}"#) == 1)
            #expect(Self.value(cancelled, "rotor_outbox_pending_deliveries") == 1)
        }
    }
}
