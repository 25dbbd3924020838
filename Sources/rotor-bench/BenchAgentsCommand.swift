import ArgumentParser
import AsyncHTTPClient
import FakeVultr
import Foundation
import NIOCore
import NIOHTTP1
import RotorAgent
import RotorCore
import RotorHTTP

#if canImport(Glibc)
import Glibc
#endif

/// `rotor-bench agents` (`scripts/bench-agents.sh` runs it): holds a thousand agent instances
/// long-polling one `rotor serve` child process and reports what they cost the server and how
/// soon a rotation gets every acknowledgement.
///
/// Each simulated instance does what `rotor agent` does on the wire: it fetches the key once,
/// then long-polls `GET …/agent/key?known_version=&known_status=&wait=PT60S` with its instance
/// id and group; when a pending key is offered it acknowledges it at once (its "check" passes
/// instantly), and it stops once the new version is current. The credential's agent target
/// needs every instance (`min_live` = the instance count), so `verify` passes only with the last
/// acknowledgement. The provider is a FakeVultr in this process.
///
/// Reported: the server's RSS and CPU while every instance holds its long-poll and nothing
/// happens; and the time from the first instance being offered the pending key (the long-polls
/// answer within milliseconds of the `distribute` commit) to the server's answer to the last
/// acknowledgement, on this process's clock (the API's times are whole seconds).
struct BenchAgentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents",
        abstract: "Measure agent instances long-polling a rotor serve child process, and one rotation that waits for all of them.",
    )

    @Option(help: "Agent instances (1–1000: an agent target's min_live is at most 1,000).") var instances = 1_000
    @Option(help: "Store-issued agent tokens the instances share (each may hold ROTOR_MAX_WAITS_PER_TOKEN long-polls).") var tokens = 10
    @Option(help: "Seconds the server is watched while every instance waits.") var idleSeconds = 5

    func validate() throws {
        guard (1...1_000).contains(self.instances) else { throw ValidationError("--instances must be 1–1000") }
        guard self.tokens >= 1 else { throw ValidationError("--tokens must be at least 1") }
    }

    func run() async throws {
        try await withChildRotor(name: "bench-agents") { fake, server, base, admin in

            let (_, key) = fake.addUser()
            let target = #"{"type":"agent","group":"bench","min_live":\#(self.instances),"verify_timeout":"PT120S"}"#
            let (status, credential) = try await admin.call(
                .POST, "/v1/credentials", body: #"{"name":"agents","provider":"vultr","secret":"\#(key)","targets":[\#(target)]}"#)
            guard let credentialID = credential["id"] as? String else { throw BenchFailure("POST /v1/credentials answered \(status.code): \(credential)") }
            var agentTokens: [String] = []
            for index in 0..<self.tokens {
                let (_, token) = try await admin.call(
                    .POST, "/v1/tokens", body: #"{"name":"agents-\#(index)","scopes":["agent"],"credential_ids":["\#(credentialID)"]}"#)
                guard let value = token["token"] as? String else { throw BenchFailure("POST /v1/tokens failed: \(token)") }
                agentTokens.append(value)
            }

            let client = HTTPClient(
                eventLoopGroupProvider: .singleton,
                configuration: .init(
                    timeout: .init(connect: .seconds(30)),
                    connectionPool: .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: self.instances + 16)))
            let outcomes = Locked<[String]>([])
            let timings = Locked<[AckTiming]>([])
            let retried = Locked(0)
            let tokens = agentTokens
            let agents = Task {
                await withTaskGroup(of: Void.self) { group in
                    for index in 0..<self.instances {
                        if index % 100 == 99 { try? await Task.sleep(for: .milliseconds(20)) }
                        let agent = SimulatedAgent(
                            client: client, base: base, credential: credentialID, instance: "bench-\(index)", token: tokens[index % tokens.count],
                            timings: timings, retried: retried)
                        group.addTask {
                            let outcome: String
                            do { outcome = try await agent.run() } catch { outcome = "error: \(error)" }
                            outcomes.withLock { $0.append(outcome) }
                        }
                    }
                }
            }

            // Every instance holds its long-poll: the server counts them as parked.
            let opening = ContinuousClock.now
            var parked = 0
            while parked < self.instances {
                if ContinuousClock.now - opening > .seconds(60) { throw BenchFailure("only \(parked) of \(self.instances) instances wait after 60 s") }
                if let failed = outcomes.withLock({ $0.first }) { throw BenchFailure("an instance stopped before the rotation: \(failed)") }
                try await Task.sleep(for: .milliseconds(250))
                parked = try await metricsGauge("rotor_http_requests_parked", base: base)
            }
            progress("bench-agents: all \(self.instances) instances long-polling after \(seconds(ContinuousClock.now - opening)) s")
            let before = try server.cpuTicks()
            let watchStart = ContinuousClock.now
            try await Task.sleep(for: .seconds(self.idleSeconds))
            let cpu = Double(try server.cpuTicks() - before) / Double(sysconf(Int32(_SC_CLK_TCK))) / seconds(ContinuousClock.now - watchStart)
            let (rss, peak) = try server.memory()

            let (_, job) = try await admin.call(.POST, "/v1/jobs", body: #"{"credential_id":"\#(credentialID)","reason":"bench-agents"}"#)
            guard let jobID = job["id"] as? String else { throw BenchFailure("POST /v1/jobs failed: \(job)") }
            var finished: [String: Any] = [:]
            let rotating = ContinuousClock.now
            while ContinuousClock.now - rotating < .seconds(180) {
                (_, finished) = try await admin.call(.GET, "/v1/jobs/\(jobID)?wait=PT20S")
                if let state = finished["state"] as? String, state != "running", state != "queued" { break }
                progress("bench-agents: job \(finished["step"] as? String ?? "?") after \(Int(seconds(ContinuousClock.now - rotating))) s: \(finished["targets"] ?? "")")
            }
            await agents.value
            try await client.shutdown()

            let (_, listing) = try await admin.call(.GET, "/v1/credentials/\(credentialID)/agent/instances")
            let acknowledged = (listing["data"] as? [[String: Any]] ?? []).filter { instance in
                let ack = instance["last_acknowledgement"] as? [String: Any]
                return ack?["outcome"] as? String == "applied" && ack?["version"] as? Int == 2
            }.count
            let times = timings.withLock { $0 }
            let spread = times.map(\.offered).min().flatMap { first in times.map(\.recorded).max().map { seconds($0 - first) } }
            let all = outcomes.withLock { $0 }
            let failures = all.filter { $0 != "current 2" }

            print("=== rotor agent benchmark: \(self.instances) instances over \(self.tokens) store-issued agent tokens, \(ProcessInfo.processInfo.activeProcessorCount) CPUs ===")
            print(String(format: "server RSS while they long-poll: %.0f MB (peak %.0f MB)   target < 250 MB", Double(rss) / 1024, Double(peak) / 1024))
            print(String(format: "server CPU while they long-poll: %.1f %% of one core over %d s   target < 5 %%", cpu * 100, self.idleSeconds))
            print(String(format: "first pending key offered → last acknowledgement recorded: %.3f s (%d of %d acknowledged)   target < 2 s", spread ?? .nan, acknowledged, self.instances))
            print("acknowledgements refused at the server's in-flight cap and sent again: \(retried.withLock { $0 })")
            print("job: \(finished["state"] as? String ?? "?"); instances that saw the new key current: \(all.count - failures.count) of \(self.instances)")
            for failure in failures.prefix(5) { print("  failed: \(failure)") }
            let met = rss < 250 * 1024 && cpu < 0.05 && (spread ?? .infinity) < 2 && acknowledged == self.instances
            print(met ? "targets met" : "targets missed")
            if !failures.isEmpty || finished["state"] as? String != "succeeded" { throw ExitCode(1) }
        }
    }

}

/// One agent instance on the wire: fetch, then long-poll and acknowledge every new version at
/// once, until the new version (2) is current.
private struct SimulatedAgent: Sendable {
    let client: HTTPClient
    let base: String
    let credential: String
    let instance: String
    let token: String
    let timings: Locked<[AckTiming]>
    /// Acknowledgements refused with `503`/`429` and sent again.
    let retried: Locked<Int>

    /// `current 2` once the rotation's key is current; otherwise what went wrong.
    func run() async throws -> String {
        let path = "/v1/credentials/\(self.credential)/agent/key?instance=\(self.instance)&group=bench"
        guard var (version, status) = try await self.fetch(path) else { throw BenchFailure("the first fetch answered nothing") }
        let deadline = ContinuousClock.now + .seconds(240)
        while ContinuousClock.now < deadline {
            if version == 2 && status == "current" { return "current 2" }
            guard let next = try await self.fetch(path + "&known_version=\(version)&known_status=\(status)&wait=PT60S") else { continue }
            (version, status) = next
            if status == "pending" {
                let offered = ContinuousClock.now
                try await self.acknowledge(version)
                let recorded = ContinuousClock.now
                self.timings.withLock { $0.append(AckTiming(offered: offered, recorded: recorded)) }
            }
        }
        return "timed out at version \(version) \(status)"
    }

    private func fetch(_ path: String) async throws -> (Int, String)? {
        var request = HTTPClientRequest(url: self.base + path)
        request.headers.add(name: "Authorization", value: "Bearer \(self.token)")
        let response = try await self.client.execute(request, timeout: .seconds(90))
        let body = try await response.body.collect(upTo: 1 << 16)
        if response.status == .noContent { return nil }
        if response.status == .serviceUnavailable || response.status == .tooManyRequests {
            // As `rotor agent` does: wait as told, with jitter, and ask again.
            let after = response.headers.first(name: "Retry-After").flatMap(Double.init) ?? 1
            try await Task.sleep(for: .milliseconds(Int((after + Double.random(in: 0...1)) * 1000)))
            return try await self.fetch(path)
        }
        guard response.status == .ok,
            let object = (try? JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8))) as? [String: Any],
            let version = object["version"] as? Int, let status = object["status"] as? String
        else { throw BenchFailure("GET key answered \(response.status.code): \(String(buffer: body).prefix(200))") }
        return (version, status)
    }

    /// Posts the acknowledgement; a `503` or `429` (the server at its in-flight cap) is retried
    /// with `rotor agent`'s own backoff (full jitter from one second).
    private func acknowledge(_ version: Int) async throws {
        var backoff = Backoff()
        while true {
            var request = HTTPClientRequest(url: self.base + "/v1/credentials/\(self.credential)/agent/acks")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(self.token)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: #"{"instance":"\#(self.instance)","group":"bench","version":\#(version),"outcome":"applied"}"#))
            let response = try await self.client.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 16)
            if response.status == .ok { return }
            guard response.status == .serviceUnavailable || response.status == .tooManyRequests, backoff.attempt < 5 else {
                throw BenchFailure("POST acks answered \(response.status.code)")
            }
            self.retried.withLock { $0 += 1 }
            try await Task.sleep(for: backoff.next())
        }
    }
}

/// When one instance was offered the pending key, and when its acknowledgement was answered.
private struct AckTiming: Sendable {
    let offered: ContinuousClock.Instant
    let recorded: ContinuousClock.Instant
}
