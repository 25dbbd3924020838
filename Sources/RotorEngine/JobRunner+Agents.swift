import Foundation
import RotorCore

/// What the stored acknowledgements say of one agent target in `verify`.
enum AgentVerdict: Equatable {
    /// Every live instance of the group acknowledged the new key with a passing check, and at
    /// least `min_live` did.
    case passed(acknowledged: Int)
    /// An instance's check failed with the new key.
    case failed(instance: String, message: String?)
    /// Not yet; nothing can change by itself before `until` (an instance going silent), though an
    /// acknowledgement may come sooner.
    case waiting(until: Date?, live: Int, acknowledged: Int)

    /// Judges `target` from the credential's `instances` as stored at `now`. Only an
    /// acknowledgement of `version` made for `job` counts: a version number comes back after a
    /// rollback, with another key.
    static func judge(_ target: Target, instances: [AgentInstance], job: JobID, version: Int, now: Date, liveness: TimeInterval) -> AgentVerdict {
        let members = instances.filter { $0.group == target.group }
        func isFor(_ ack: AgentInstance.LastAck?, _ outcome: AgentOutcome) -> Bool {
            ack?.jobID == job && ack?.version == version && ack?.outcome == outcome
        }
        if let failed = members.first(where: { isFor($0.lastAck, .failed) }) {
            return .failed(instance: failed.instance, message: failed.lastAck?.message)
        }
        let live = members.filter { $0.isLive(at: now, window: liveness) }
        let acknowledged = live.filter { isFor($0.lastAck, .applied) }
        if acknowledged.count == live.count, acknowledged.count >= max(1, target.minLive ?? 1) {
            return .passed(acknowledged: acknowledged.count)
        }
        // An instance that has not answered stops blocking once it has been silent too long.
        let silentAt = live.filter { !isFor($0.lastAck, .applied) }.map { $0.lastSeenAt.addingTimeInterval(liveness + 0.001) }.min()
        return .waiting(until: silentAt, live: live.count, acknowledged: acknowledged.count)
    }
}

extension JobRunner {
    /// What `verify` makes of the job's agent targets (indices into `rotation.job.targets`): nil
    /// when all passed (they are marked verified); else the outcome to return. Waiting commits
    /// the job due again when the first deadline or silence falls, or when an acknowledgement
    /// arrives (the store makes the job due then).
    func verifyAgents(_ indices: [Int], _ rotation: inout Rotation, events: inout [JobEvent]) async throws -> Outcome? {
        guard !indices.isEmpty else { return nil }
        let now = self.clock.now()
        let instances = try await self.store.agentInstances(rotation.credential.id)
        let version = rotation.credential.version + 1
        var wakeAt: Date?
        var waiting: [String] = []
        for index in indices {
            let targetID = rotation.job.targets[index].targetID
            guard let target = rotation.credential.targets.first(where: { $0.id == targetID }) else {
                rotation.job.targets[index].state = .verified
                continue
            }
            let deadline: Date
            if let stored = rotation.job.targets[index].verifyDeadline {
                deadline = stored
            } else {
                let timeout = target.verifyTimeout?.fixedSeconds ?? self.agentVerifyTimeout
                deadline = now.addingTimeInterval(timeout)
                rotation.job.targets[index].verifyDeadline = deadline
                events.append(event(now, "agents.waiting", .verify, "Waiting until \(deadline.formatted(.iso8601)) for agent group \(target.group ?? "") to acknowledge version \(version)."))
            }
            switch AgentVerdict.judge(target, instances: instances, job: rotation.job.id, version: version, now: now, liveness: self.agentLiveness) {
            case .passed(let count):
                rotation.job.targets[index].state = .verified
                rotation.job.targets[index].lastError = nil
                events.append(event(now, "agents.acknowledged", .verify, "Agent group \(target.group ?? "") confirmed version \(version) (\(count) live instance(s))."))
            case .failed(let instance, let message):
                rotation.job.targets[index].lastError = "agent \(instance): check failed"
                let detail = message.map { ": \($0)" } ?? "."
                return .permanent(JobError(
                    code: "agent_check_failed",
                    message: "Agent instance \(instance) of group \(target.group ?? "") failed its check with the new key\(detail)",
                    step: .verify))
            case .waiting(let until, let live, let acknowledged):
                let minimum = max(1, target.minLive ?? 1)
                let status = "\(acknowledged) of \(live) live instance(s) acknowledged, at least \(minimum) needed"
                rotation.job.targets[index].lastError = "waiting: \(status)"
                if now >= deadline {
                    return .permanent(JobError(
                        code: "agent_verify_timeout",
                        message: "Agent group \(target.group ?? "") did not confirm the new key in time: \(status).",
                        step: .verify))
                }
                waiting.append(target.group ?? "")
                wakeAt = [wakeAt, until, deadline].compactMap { $0 }.min()
            }
        }
        guard let wakeAt, !waiting.isEmpty else { return nil }
        var job = rotation.job
        try job.awaitAcknowledgements(until: wakeAt, at: now)
        return .done(RotationCommit(job: job, events: events))
    }
}
