import Foundation
import RotorCore
import Testing

/// ``AgentStore`` on every driver: instances, acknowledgements (replays and group mismatches
/// change nothing), and the wake-up of a job waiting in `verify`.
package struct AgentStoreConformance: Sendable {
    package init() {}

    private static func ack(_ credential: Credential, _ instance: String, group: String = "web", version: Int, job: JobID?, _ outcome: AgentOutcome, at: Double) -> AgentAcknowledgement {
        AgentAcknowledgement(
            credentialID: credential.id, instance: instance, group: group, version: version, jobID: job, outcome: outcome,
            message: outcome == .failed ? "check exited 1" : nil, at: Sample.t0.addingTimeInterval(at))
    }

    private static func agentCredential() -> Credential {
        var credential = Sample.credential(targets: 0)
        credential.targets = [Target(id: .generate(), agentGroup: "web", minLive: 2, verifyTimeout: ISODuration(seconds: 60))]
        return credential
    }

    package func instances(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = Self.agentCredential()
            try await store.createCredential(credential, secrets: Sample.secrets(for: credential))
            #expect(try await store.credential(credential.id)?.targets == credential.targets)

            #expect(try await store.recordAgentSeen(credential.id, instance: "b-1", group: "web", at: Sample.t0))
            let first = try await store.recordAgentAcknowledgement(Self.ack(credential, "a-1", version: 1, job: nil, .applied, at: 5))
            guard case .recorded(let recorded) = first else { Issue.record("not recorded: \(first)"); return }
            #expect(recorded.appliedVersion == 1)
            #expect(recorded.lastAck?.outcome == .applied)

            let replay = try await store.recordAgentAcknowledgement(Self.ack(credential, "a-1", version: 1, job: nil, .applied, at: 9))
            #expect(replay == .replayed(recorded))
            let otherGroup = try await store.recordAgentAcknowledgement(Self.ack(credential, "a-1", group: "api", version: 1, job: nil, .applied, at: 9))
            #expect(otherGroup == .groupMismatch(recorded))
            #expect(try await store.recordAgentSeen(credential.id, instance: "a-1", group: "api", at: Sample.t0.addingTimeInterval(9)) == false)

            let job = JobID.generate()
            let failed = try await store.recordAgentAcknowledgement(Self.ack(credential, "b-1", version: 2, job: job, .failed, at: 12))
            guard case .recorded(let b) = failed else { Issue.record("not recorded: \(failed)"); return }
            #expect(b.appliedVersion == nil)
            #expect(b.lastAck == AgentInstance.LastAck(version: 2, jobID: job, outcome: .failed, message: "check exited 1", at: Sample.t0.addingTimeInterval(12)))

            let listed = try await store.agentInstances(credential.id)
            #expect(listed.map(\.instance) == ["a-1", "b-1"])
            #expect(listed.first == recorded)
            #expect(listed.last?.lastSeenAt == Sample.t0.addingTimeInterval(12))
            #expect(try await store.agentInstances(CredentialID.generate()).isEmpty)
        }
    }

    package func acknowledgementWakesVerify(_ kind: StoreKind) async throws {
        try await kind.withStore { subject in
            let store = subject.store
            let credential = Self.agentCredential()
            try await store.createCredential(credential, secrets: Sample.secrets(for: credential))
            let queued = try await store.addJob(for: credential)
            #expect(try await store.claimJobs(owner: "A", now: Sample.t0, leaseUntil: Sample.t0.addingTimeInterval(60), limit: 1) == [queued.id])
            var job = try await store.rotation(queued.id).job
            try job.start(at: Sample.t0)
            try job.completeStep(at: Sample.t0)  // create
            try job.completeStep(at: Sample.t0)  // distribute
            let deadline = Sample.t0.addingTimeInterval(60)
            job.targets[0].state = .delivered
            job.targets[0].verifyDeadline = deadline
            try job.awaitAcknowledgements(until: deadline, at: Sample.t0)
            try await store.commit(RotationCommit(job: job), owner: "A")
            try await store.releaseLease(job.id, owner: "A")
            let stored = try #require(try await store.job(job.id))
            #expect(stored.targets[0].verifyDeadline == deadline)
            #expect(try await store.claimJobs(owner: "A", now: Sample.t0.addingTimeInterval(10), leaseUntil: Sample.t0.addingTimeInterval(70), limit: 1).isEmpty)

            _ = try await store.recordAgentAcknowledgement(Self.ack(credential, "a-1", version: 2, job: job.id, .applied, at: 10))
            let woken = try #require(try await store.job(job.id))
            #expect(woken.revision == stored.revision + 1)
            #expect(try await store.claimJobs(owner: "A", now: Sample.t0.addingTimeInterval(10), leaseUntil: Sample.t0.addingTimeInterval(70), limit: 1) == [job.id])
            // A runner that read the job before the acknowledgement commits nothing stale.
            await #expect(throws: StoreError.self) { try await store.commit(RotationCommit(job: stored), owner: "A") }
        }
    }
}
