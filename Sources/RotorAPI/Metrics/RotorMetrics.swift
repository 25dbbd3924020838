public import Prometheus
import RotorHTTP

/// Rotor's Prometheus set-up, shared by `rotor serve` and the tests.
public enum RotorMetrics {
    /// A swift-metrics factory recording into `registry`, with histogram buckets that fit what
    /// Rotor times: HTTP answers from under a millisecond, job steps up to minutes (a step
    /// includes every target delivery and verification).
    public static func factory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[HTTPMetrics.durationLabel] = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        // RotorEngine's `rotor_job_step_duration_seconds` (RotorAPI does not import the engine).
        factory.durationHistogramBuckets["rotor_job_step_duration_seconds"] = [
            .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120), .seconds(300),
        ]
        return factory
    }
}
