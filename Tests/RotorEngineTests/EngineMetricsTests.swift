import FakeVultr
import Foundation
import NIOHTTP1
import Prometheus
import RotorCore
import RotorEngine
import Testing

/// What a rotation records: provider calls by operation and outcome, step durations, outcomes.
@Suite(.timeLimit(.minutes(1))) struct EngineMetricsTests {
    /// The value of the series `name{labels}` in a scrape, or nil when absent.
    static func value(_ scrape: String, _ series: String) -> Double? {
        for line in scrape.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    static func calls(_ operation: String, _ outcome: String) -> String {
        #"rotor_provider_calls_total{provider="vultr",operation="\#(operation)",outcome="\#(outcome)"}"#
    }

    @Test("a rotation with one transient create failure counts provider calls by outcome, times each step, and counts the job")
    func rotationRecords() async throws {
        let registry = PrometheusCollectorRegistry()
        try await EngineHarness.with(metrics: registry) { h in
            // Every series exists before the first call, at zero.
            let before = registry.emitToString()
            #expect(Self.value(before, Self.calls("create_key", "success")) == 0)
            #expect(Self.value(before, Self.calls("create_key", "transient")) == 0)
            #expect(Self.value(before, #"rotor_jobs_finished_total{state="succeeded"}"#) == 0)

            let (credential, _) = try await h.makeCredential()
            h.fake.failNext(1, status: .serviceUnavailable, on: .create)
            let job = try await h.waitFor(try await h.rotate(credential))
            #expect(job.state == .succeeded)

            let scrape = try await Self.scrapeOnceFinished(registry, "succeeded")
            #expect(Self.value(scrape, Self.calls("create_key", "transient")) == 1)
            #expect(Self.value(scrape, Self.calls("create_key", "success")) == 1)
            #expect(Self.value(scrape, Self.calls("create_key", "permanent")) == 0)
            #expect(Self.value(scrape, Self.calls("delete_key", "success")) == 1)  // the old key, in revoke
            #expect(Self.value(scrape, Self.calls("verify", "success")) == 1)  // the new key, in verify
            #expect((Self.value(scrape, Self.calls("list_keys", "success")) ?? 0) >= 1)  // orphans, before create
            #expect(Self.value(scrape, #"rotor_provider_call_duration_seconds_count{provider="vultr",operation="create_key"}"#) == 2)

            // Two attempts at create (the transient one and the success), one at each later step.
            #expect(Self.value(scrape, #"rotor_job_step_duration_seconds_count{step="create"}"#) == 2)
            for step in ["distribute", "verify", "revoke", "finalize"] {
                #expect(Self.value(scrape, #"rotor_job_step_duration_seconds_count{step="\#(step)"}"#) == 1, "\(step)")
            }
            #expect(Self.value(scrape, #"rotor_job_step_duration_seconds_count{step="rollback"}"#) == 0)
            #expect(scrape.contains(#"rotor_job_step_duration_seconds_bucket{step="create",le="+Inf"} 2"#))
            #expect(Self.value(scrape, #"rotor_jobs_finished_total{state="succeeded"}"#) == 1)
            #expect(Self.value(scrape, #"rotor_jobs_finished_total{state="rolled_back"}"#) == 0)
        }
    }

    @Test("a permanent refusal is counted as permanent, and the rolled-back job as rolled_back")
    func permanentFailure() async throws {
        let registry = PrometheusCollectorRegistry()
        try await EngineHarness.with(metrics: registry) { h in
            let (credential, _) = try await h.makeCredential()
            h.fake.failNext(1, status: .forbidden, on: .create)
            let job = try await h.waitFor(try await h.rotate(credential))
            #expect(job.state == .rolledBack)
            let scrape = try await Self.scrapeOnceFinished(registry, "rolled_back")
            #expect(Self.value(scrape, Self.calls("create_key", "permanent")) == 1)
            #expect(Self.value(scrape, Self.calls("create_key", "success")) == 0)
            #expect(Self.value(scrape, #"rotor_job_step_duration_seconds_count{step="rollback"}"#) == 1)
            #expect(Self.value(scrape, #"rotor_jobs_finished_total{state="rolled_back"}"#) == 1)
        }
    }

    /// The runner counts a finished job just after its final commit, which the test may see
    /// first: scrape once the count is in (or after 15 s, for the expectations to fail: the
    /// suite's first seconds on two cores can hold a task that long).
    private static func scrapeOnceFinished(_ registry: PrometheusCollectorRegistry, _ state: String) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            let scrape = registry.emitToString()
            if Self.value(scrape, #"rotor_jobs_finished_total{state="\#(state)"}"#) == 1 { return scrape }
            try await Task.sleep(for: .milliseconds(5))
        }
        return registry.emitToString()
    }
}
