import ArgumentParser
import AsyncHTTPClient
import FakeVultr
import Foundation
import RotorAssembly
import RotorHTTP
import NIOCore
import NIOHTTP1
import RotorCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `rotor-bench waits` (hidden; `scripts/bench-waits.sh` runs it): holds thousands of
/// `GET /v1/jobs/{id}?wait=PT60S` requests against a `rotor serve` child process and reports
/// what they cost the server and how soon they answer.
///
/// The provider is a FakeVultr in this process. `--jobs` credentials each start a rotation with
/// a grace period long enough to open every wait while the jobs sit in `grace` (no work, so the
/// server should be idle). Then: the server's RSS and CPU while it holds the waits; and, when
/// the grace periods end, how long after each job's old key is deleted at the provider (the
/// `revoke` step, the job's last provider call; the final commit follows) its waiters get their
/// answer. That is an upper bound on the time from the job's final commit to the answer.
struct BenchWaitsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "waits",
        abstract: "Measure thousands of ?wait= requests held by a rotor serve child process.",
    )

    @Option(help: "Waiting requests to hold.") var waits = 10_000
    @Option(help: "Jobs they wait for (each gets waits/jobs of them).") var jobs = 100
    @Option(help: "Store-issued tokens the waits are spread over (each may hold ROTOR_MAX_WAITS_PER_TOKEN).") var tokens = 10
    @Option(help: "Seconds the server is watched while it holds every wait.") var idleSeconds = 5
    @Option(help: "The jobs' grace period in seconds: long enough to open every wait and watch.") var grace = 40
    @Option(help: "Seconds over which the jobs' grace periods end, evenly (0: all at once, the thundering herd).") var endSpread = 10.0

    func validate() throws {
        // Every wait is PT60S and opening them takes several seconds: the last job must end
        // well before the first wait runs out.
        guard Double(self.grace) + self.endSpread <= 50, self.endSpread >= 0 else {
            throw ValidationError("--grace plus --end-spread must be at most 50 seconds (the waits are PT60S); got \(self.grace) + \(self.endSpread)")
        }
    }

    func run() async throws {
        try await withChildRotor(name: "bench-waits") { fake, server, base, admin in

            // Credentials, and one rotation each, parked in a long grace period.
            var oldKeys: [JobID: String] = [:]
            var jobIDs: [JobID] = []
            for index in 0..<self.jobs {
                let (_, key) = fake.addUser()
                let (status, credential) = try await admin.call(
                    .POST, "/v1/credentials", body: #"{"name":"wait-\#(index)","provider":"vultr","secret":"\#(key)","targets":[]}"#)
                guard let id = credential["id"] as? String else { throw BenchFailure("POST /v1/credentials answered \(status.code)") }
                let current = credential["current"] as? [String: Any]
                // Job `index` ends endSpread × index / jobs after the first, as rotations started
                // apart do; with endSpread 0 they all end within the second it takes to start them.
                let grace = Double(self.grace) + self.endSpread * Double(index) / Double(self.jobs)
                let (_, job) = try await admin.call(
                    .POST, "/v1/jobs", body: #"{"credential_id":"\#(id)","grace_period":"PT\#(String(format: "%.3f", grace))S"}"#)
                guard let jobText = job["id"] as? String, let jobID = JobID(jobText) else { throw BenchFailure("POST /v1/jobs failed: \(job)") }
                jobIDs.append(jobID)
                oldKeys[jobID] = current?["provider_key_id"] as? String
            }
            var readers: [String] = []
            for index in 0..<self.tokens {
                let (_, token) = try await admin.call(.POST, "/v1/tokens", body: #"{"name":"waiter-\#(index)","scopes":["jobs:read"]}"#)
                guard let value = token["token"] as? String else { throw BenchFailure("POST /v1/tokens failed: \(token)") }
                readers.append(value)
            }
            let (jobs, keys, readerTokens) = (jobIDs, oldKeys, readers)
            let port = try await server.port()
            try await self.untilAllInGrace(jobs, admin)
            progress("bench-waits: \(self.jobs) jobs in grace (PT\(self.grace)S, ends spread over \(self.endSpread) s); opening \(self.waits) waits over \(self.tokens) store-issued tokens")

            let answers = Locked<[WaitAnswer]>([])
            let refused = Locked(0)
            // The waits are spread over 64 task groups, as the server spreads its connections:
            // Swift's runtime removes an ended child from its group's list by a walk of the list,
            // under a lock, and this process shares the two cores with the server it measures.
            // (With one group of 10,000 the figures were the same; this keeps the question out.)
            let (waitCount, shards) = (self.waits, 64)
            let waiting = Task {
                await withTaskGroup(of: Void.self) { group in
                    for shard in 0..<shards {
                        let waits = Array(stride(from: shard, to: waitCount, by: shards)).map { index in
                            (jobs[index % jobs.count], readerTokens[index % readerTokens.count])
                        }
                        group.addTask { await Self.holdWaits(waits, port: port, answers: answers, refused: refused) }
                    }
                }
            }
            // Every wait held: the server counts them as parked.
            let opening = ContinuousClock.now
            var parked = 0
            while parked < self.waits {
                if ContinuousClock.now - opening > .seconds(60) { throw BenchFailure("only \(parked) of \(self.waits) waits are held after 60 s") }
                let early = answers.withLock { $0.count }
                if early > 0 { throw BenchFailure("\(early) waits answered before their jobs ended: \(answers.withLock { $0.prefix(3) })") }
                try await Task.sleep(for: .milliseconds(250))
                parked = try await metricsGauge("rotor_http_requests_parked", base: base)
            }
            progress("bench-waits: all \(self.waits) waits held after \(seconds(ContinuousClock.now - opening)) s")
            let before = try server.cpuTicks()
            let watchStart = ContinuousClock.now
            try await Task.sleep(for: .seconds(self.idleSeconds))
            let cpu = Double(try server.cpuTicks() - before) / Double(sysconf(Int32(_SC_CLK_TCK))) / seconds(ContinuousClock.now - watchStart)
            let (rss, peak) = try server.memory()
            let stillHeld = try await metricsGauge("rotor_http_requests_parked", base: base)

            await waiting.value

            // Each job's end: when the provider handled the deletion of its old key.
            let times = keys.compactMapValues { fake.deletionTime(of: $0) }
            let all = answers.withLock { $0 }
            var latencies: [Double] = []
            var failures: [String] = []
            for answer in all {
                guard answer.status == 200, answer.state == "succeeded" else {
                    failures.append("\(answer.job): \(answer.status) \(answer.state)")
                    continue
                }
                guard let end = times[answer.job] else {
                    failures.append("\(answer.job): answered, but its old key was never seen deleted")
                    continue
                }
                latencies.append(seconds(answer.at - end) * 1000)
            }
            latencies.sort()
            func percentile(_ p: Double) -> Double { latencies.isEmpty ? .nan : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
            print("=== rotor ?wait= benchmark: \(self.waits) waits on \(self.jobs) jobs over \(self.tokens) store-issued tokens, jobs ending over \(self.endSpread) s, \(ProcessInfo.processInfo.activeProcessorCount) CPUs ===")
            print("held at once: \(self.waits) (server's parked gauge: \(stillHeld) at the end of the watch); \(refused.withLock { $0 }) refused with 503 while the burst was admitted, sent again after Retry-After")
            print(String(format: "server RSS while holding them: %.0f MB (peak %.0f MB)   target < 300 MB", Double(rss) / 1024, Double(peak) / 1024))
            print(String(format: "server CPU while holding them: %.1f %% of one core over %d s   target < 5 %%", cpu * 100, self.idleSeconds))
            print(String(format: "answer after the job's last provider call (revoke), ms: p50 %.1f  p99 %.1f  max %.1f   target: max < 100", percentile(0.5), percentile(0.99), latencies.last ?? .nan))
            // Where the time goes: the engine's final commit and the wake (a job's first answer),
            // and the fan-out to the job's other waiters (its last answer minus its first).
            var first: [JobID: ContinuousClock.Instant] = [:]
            var last: [JobID: ContinuousClock.Instant] = [:]
            for answer in all where answer.status == 200 {
                first[answer.job] = min(first[answer.job] ?? answer.at, answer.at)
                last[answer.job] = max(last[answer.job] ?? answer.at, answer.at)
            }
            let firsts = first.compactMap { job, at in times[job].map { seconds(at - $0) * 1000 } }.sorted()
            let fanOuts = first.compactMap { job, at in last[job].map { seconds($0 - at) * 1000 } }.sorted()
            func median(_ values: [Double]) -> Double { values.isEmpty ? .nan : values[values.count / 2] }
            if let earliest = times.values.min(), let latest = times.values.max() {
                print(String(format: "jobs' ends (old key deleted) spread over %.0f ms; per job, first answer after revoke p50 %.1f max %.1f ms; last answer after first p50 %.1f max %.1f ms",
                             seconds(latest - earliest) * 1000, median(firsts), firsts.last ?? .nan, median(fanOuts), fanOuts.last ?? .nan))
            }
            print("answers: \(all.count) of \(self.waits), \(latencies.count) succeeded and timed, \(failures.count) failed")
            for failure in failures.prefix(5) { print("  failed: \(failure)") }
            let met = rss < 300 * 1024 && cpu < 0.05 && (latencies.last ?? .infinity) < 100 && failures.isEmpty && all.count == self.waits
            print(met ? "targets met" : "targets missed")
            if !failures.isEmpty || all.count != self.waits { throw ExitCode(1) }
        }
    }

    /// One task group's share of the waits, each held until its answer. Callers arrive over a
    /// second or two (about 250 every 25 ms over all the groups), not in one instant of 10,000 SYNs.
    private static func holdWaits(
        _ waits: [(job: JobID, token: String)], port: Int, answers: Locked<[WaitAnswer]>, refused: Locked<Int>
    ) async {
        await withTaskGroup(of: Void.self) { group in
            for (order, wait) in waits.enumerated() {
                if order % 4 == 3 { try? await Task.sleep(for: .milliseconds(25)) }
                group.addTask {
                    let answer = await Self.holdWait(port: port, job: wait.job, token: wait.token, refused: refused)
                    answers.withLock { $0.append(answer) }
                }
            }
        }
    }

    /// One wait, held until its answer. The answer is timed as its last byte arrives and parsed
    /// only after every wait has its answer: parsing now would take CPU from answers still to
    /// come. A 503 while the server admits the burst is sent again after its Retry-After, as a
    /// client should; `refused` counts them.
    private static func holdWait(port: Int, job: JobID, token: String, refused: Locked<Int>) async -> WaitAnswer {
        while true {
            let answer: WaitAnswer
            var retryAfter: Int?
            do {
                let got = try await OneAnswerClient.get(
                    port: port, path: "/v1/jobs/\(job)?wait=PT60S", headers: ["Authorization": "Bearer \(token)"])
                answer = WaitAnswer(job: job, at: got.at, status: got.status, body: got.body, failure: nil)
                retryAfter = got.headers.first(name: "Retry-After").flatMap { Int($0) }
            } catch {
                answer = WaitAnswer(job: job, at: .now, status: 0, body: ByteBuffer(), failure: "error: \(error)")
            }
            guard answer.status == 503 else { return answer }
            refused.withLock { $0 += 1 }
            try? await Task.sleep(for: .seconds(retryAfter ?? 1))
        }
    }

    /// Polls until every job is in its grace period.
    private func untilAllInGrace(_ jobIDs: [JobID], _ admin: BenchAPI) async throws {
        let start = ContinuousClock.now
        var pending = Set(jobIDs)
        while !pending.isEmpty {
            if ContinuousClock.now - start > .seconds(60) { throw BenchFailure("\(pending.count) jobs did not reach grace within 60 s") }
            for id in pending {
                let (_, job) = try await admin.call(.GET, "/v1/jobs/\(id)")
                if job["step"] as? String == "grace" { pending.remove(id) }
                if let state = job["state"] as? String, state != "running", state != "queued" { throw BenchFailure("job \(id) ended \(state) before the waits") }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

}

/// One wait's outcome.
private struct WaitAnswer: Sendable {
    let job: JobID
    let at: ContinuousClock.Instant
    let status: UInt
    let body: ByteBuffer
    let failure: String?

    /// The answered job's `state`, or what went wrong.
    var state: String {
        if let failure { return failure }
        let object = try? JSONSerialization.jsonObject(with: Data(String(buffer: self.body).utf8))
        return (object as? [String: Any])?["state"] as? String ?? ""
    }
}
