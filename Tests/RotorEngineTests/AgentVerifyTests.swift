import FakeVultr
import Foundation
import RotorCore
@testable import RotorEngine
import RotorCrypto
import RotorSQLite
import Testing

/// `verify` with an agent target: it passes only once every live instance of the group has
/// acknowledged the new key with a passing check (and at least `min_live` have); a failed check
/// or the timeout rolls the job back; a silent instance stops blocking after the liveness window.
@Suite struct AgentVerifyTests {
    /// A credential on the harness's original key whose only target is agent group `web`.
    private static func agentCredential(_ harness: EngineHarness, minLive: Int = 1, timeout: ISODuration? = nil) async throws -> Credential {
        let now = Date()
        let key = harness.originalKey
        let credential = Credential(
            id: .generate(), name: "agents-\(UUID().uuidString.prefix(8))", provider: .vultr,
            current: KeyInfo(providerKeyID: key.id, fingerprint: SHA256.fingerprint(of: key.secret), createdAt: now),
            targets: [Target(id: .generate(), agentGroup: "web", minLive: minLive, verifyTimeout: timeout)],
            createdAt: now, updatedAt: now)
        try await harness.store.createCredential(credential, secrets: CredentialSecrets(current: Secret(key.secret)))
        return credential
    }

    /// Waits until the job sits in `verify` waiting for acknowledgements.
    private static func waitingInVerify(_ harness: EngineHarness, _ id: JobID) async throws -> Job {
        try await harness.waitFor(id) { $0.step == .verify && $0.nextAttemptAt != nil && $0.targets.allSatisfy { $0.verifyDeadline != nil } }
    }

    private static func acknowledge(_ harness: EngineHarness, _ credential: Credential, _ instance: String, job: JobID, _ outcome: AgentOutcome) async throws {
        let ack = AgentAcknowledgement(
            credentialID: credential.id, instance: instance, group: "web", version: credential.version + 1, jobID: job, outcome: outcome,
            message: outcome == .failed ? "health check: 401" : nil, at: Date())
        guard case .recorded = try await harness.store.recordAgentAcknowledgement(ack) else {
            Issue.record("acknowledgement not recorded")
            return
        }
        await harness.engine.wake()
    }

    @Test("two live instances acknowledge: the job waits for the second, then revokes the old key")
    func bothAcknowledge() async throws {
        try await EngineHarness.with { harness in
            let credential = try await Self.agentCredential(harness)
            let old = harness.originalKey
            for instance in ["a-1", "a-2"] {
                #expect(try await harness.store.recordAgentSeen(credential.id, instance: instance, group: "web", at: Date()))
            }
            let id = try await harness.rotate(credential)
            _ = try await Self.waitingInVerify(harness, id)
            #expect(try await harness.store.rotation(id).pendingKey != nil)
            try await Self.acknowledge(harness, credential, "a-1", job: id, .applied)
            // One of two live instances is not enough; the job stays in verify.
            try await Task.sleep(for: .milliseconds(300))
            let waiting = try #require(try await harness.store.job(id))
            #expect(waiting.state == .running && waiting.step == .verify)
            try await Self.acknowledge(harness, credential, "a-2", job: id, .applied)
            let done = try await harness.waitFor(id)
            #expect(done.state == .succeeded)
            #expect(done.targets.map(\.state) == [.verified])
            #expect(!harness.fake.keys(ofUser: harness.userID).contains { $0.id == old.id })
        }
    }

    @Test("acknowledgements arriving one by one and all at once cost verify no attempts: one step.started, attempt 1, then success")
    func acknowledgementsCostNoAttempts() async throws {
        try await EngineHarness.with { harness in
            let credential = try await Self.agentCredential(harness, minLive: 40)
            let instances = (0..<40).map { "i-\($0)" }
            for instance in instances {
                #expect(try await harness.store.recordAgentSeen(credential.id, instance: instance, group: "web", at: Date()))
            }
            let id = try await harness.rotate(credential)
            _ = try await Self.waitingInVerify(harness, id)
            // A few one by one, letting the engine judge each, then the rest together.
            for instance in instances.prefix(5) {
                try await Self.acknowledge(harness, credential, instance, job: id, .applied)
                try await Task.sleep(for: .milliseconds(50))
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for instance in instances.dropFirst(5) {
                    group.addTask { try await Self.acknowledge(harness, credential, instance, job: id, .applied) }
                }
                try await group.waitForAll()
            }
            let done = try await harness.waitFor(id)
            #expect(done.state == .succeeded)
            let verifyStarts = try await harness.store.events(id).filter { $0.type == "step.started" && $0.step == .verify }
            #expect(verifyStarts.count == 1, "\(verifyStarts.map(\.message))")
        }
    }

    @Test("an instance whose check fails rolls the job back: the old key stays current and works")
    func failedCheckRollsBack() async throws {
        try await EngineHarness.with { harness in
            let credential = try await Self.agentCredential(harness)
            let old = harness.originalKey
            for instance in ["a-1", "a-2"] {
                #expect(try await harness.store.recordAgentSeen(credential.id, instance: instance, group: "web", at: Date()))
            }
            let id = try await harness.rotate(credential)
            _ = try await Self.waitingInVerify(harness, id)
            try await Self.acknowledge(harness, credential, "a-1", job: id, .applied)
            try await Self.acknowledge(harness, credential, "a-2", job: id, .failed)
            let done = try await harness.waitFor(id)
            #expect(done.state == .rolledBack)
            #expect(done.error?.code == "agent_check_failed")
            #expect(done.targets.map(\.state) == [.rolledBack])
            #expect(harness.fake.keys(ofUser: harness.userID).map(\.id) == [old.id])
            #expect(try await harness.store.credential(credential.id)?.current.providerKeyID == old.id)
        }
    }

    @Test("an instance silent past the liveness window does not block the rotation")
    func silentInstanceDoesNotBlock() async throws {
        try await EngineHarness.with(agentLiveness: 3) { harness in
            let credential = try await Self.agentCredential(harness)
            // "gone" falls silent 2 s from now, a-1 only 3 s after its acknowledgement: the engine
            // has at least a second, even on a loaded machine, to find a-1 live and "gone" not.
            #expect(try await harness.store.recordAgentSeen(credential.id, instance: "gone", group: "web", at: Date().addingTimeInterval(-1)))
            #expect(try await harness.store.recordAgentSeen(credential.id, instance: "a-1", group: "web", at: Date()))
            let id = try await harness.rotate(credential)
            _ = try await Self.waitingInVerify(harness, id)
            try await Self.acknowledge(harness, credential, "a-1", job: id, .applied)
            let started = ContinuousClock.now
            let done = try await harness.waitFor(id)
            #expect(done.state == .succeeded)
            // It waited for "gone" to fall silent, not for the 5-minute timeout.
            #expect(ContinuousClock.now - started < .seconds(20))
        }
    }

    @Test("a group with no live instance does not pass: the verify timeout rolls the job back")
    func noLiveInstanceTimesOut() async throws {
        try await EngineHarness.with { harness in
            let credential = try await Self.agentCredential(harness, timeout: ISODuration(seconds: 2))
            let id = try await harness.rotate(credential)
            let done = try await harness.waitFor(id)
            #expect(done.state == .rolledBack)
            #expect(done.error?.code == "agent_verify_timeout")
            #expect(try await harness.store.credential(credential.id)?.version == 1)
        }
    }
}

@Suite struct AgentVerdictTests {
    @Test("min_live counts live acknowledged instances only; an acknowledgement for another job does not count")
    func verdicts() {
        let now = Date()
        let job = JobID.generate()
        let credential = CredentialID.generate()
        let target = Target(id: .generate(), agentGroup: "web", minLive: 2)
        func instance(_ name: String, seen: Double, ack: (JobID, AgentOutcome)?) -> AgentInstance {
            AgentInstance(
                credentialID: credential, instance: name, group: "web", appliedVersion: nil, lastSeenAt: now.addingTimeInterval(-seen),
                lastAck: ack.map { AgentInstance.LastAck(version: 2, jobID: $0.0, outcome: $0.1, message: nil, at: now) })
        }
        let one = [instance("a", seen: 1, ack: (job, .applied))]
        #expect(AgentVerdict.judge(target, instances: one, job: job, version: 2, now: now, liveness: 60) == .waiting(until: nil, live: 1, acknowledged: 1))
        let two = one + [instance("b", seen: 1, ack: (job, .applied)), instance("old", seen: 600, ack: nil)]
        #expect(AgentVerdict.judge(target, instances: two, job: job, version: 2, now: now, liveness: 60) == .passed(acknowledged: 2))
        let stale = one + [instance("b", seen: 1, ack: (JobID.generate(), .applied))]
        #expect(AgentVerdict.judge(target, instances: stale, job: job, version: 2, now: now, liveness: 60) != .passed(acknowledged: 2))
        let failed = two + [instance("c", seen: 1, ack: (job, .failed))]
        #expect(AgentVerdict.judge(target, instances: failed, job: job, version: 2, now: now, liveness: 60) == .failed(instance: "c", message: nil))
    }
}
