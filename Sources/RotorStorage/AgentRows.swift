package import Foundation
package import RotorCore

/// The `agent_instances` table, the same in both stores: columns, row decoding, and what an
/// acknowledgement does to a row.
package enum AgentRows {
    /// The columns, in the order ``values(_:)`` gives them.
    package static let columns = [
        "credential_id", "instance_id", "group_name", "applied_version", "last_seen_at",
        "ack_version", "ack_job_id", "ack_outcome", "ack_message", "ack_at",
    ]

    /// The instance stored in `row`.
    package static func instance(from row: some StoredRow) throws -> AgentInstance {
        var lastAck: AgentInstance.LastAck?
        if let version = try row.optionalInt("ack_version") {
            lastAck = AgentInstance.LastAck(
                version: version,
                jobID: try row.optionalString("ack_job_id").map(JobID.init(unchecked:)),
                outcome: try RowCoding.enumValue(AgentOutcome.self, row, "ack_outcome"),
                message: try row.optionalString("ack_message"),
                at: try RowCoding.date(row, "ack_at")
            )
        }
        return AgentInstance(
            credentialID: CredentialID(unchecked: try row.string("credential_id")),
            instance: try row.string("instance_id"),
            group: try row.string("group_name"),
            appliedVersion: try row.optionalInt("applied_version"),
            lastSeenAt: try RowCoding.date(row, "last_seen_at"),
            lastAck: lastAck
        )
    }

    /// The row's values, in ``columns`` order.
    package static func values(_ instance: AgentInstance) -> [StoredValue] {
        [
            .text(instance.credentialID.rawValue), .text(instance.instance), .text(instance.group),
            .int(instance.appliedVersion), .double(RowCoding.time(instance.lastSeenAt)),
            .int(instance.lastAck?.version), .text(instance.lastAck?.jobID?.rawValue),
            .text(instance.lastAck?.outcome.rawValue), .text(instance.lastAck?.message),
            .double(RowCoding.time(instance.lastAck?.at)),
        ]
    }

    /// What `ack` makes of the stored instance (nil: none yet): the result to answer, and the
    /// row to write (nil: write nothing).
    package static func apply(_ ack: AgentAcknowledgement, to stored: AgentInstance?) -> (AgentAckResult, AgentInstance?) {
        if let stored {
            if stored.group != ack.group { return (.groupMismatch(stored), nil) }
            if let last = stored.lastAck, last.version == ack.version, last.jobID == ack.jobID, last.outcome == ack.outcome {
                return (.replayed(stored), nil)
            }
        }
        var instance = stored ?? AgentInstance(
            credentialID: ack.credentialID, instance: ack.instance, group: ack.group, appliedVersion: nil, lastSeenAt: ack.at, lastAck: nil)
        instance.lastSeenAt = max(instance.lastSeenAt, ack.at)
        instance.lastAck = AgentInstance.LastAck(version: ack.version, jobID: ack.jobID, outcome: ack.outcome, message: ack.message, at: ack.at)
        if ack.outcome == .applied { instance.appliedVersion = ack.version }
        return (.recorded(instance), instance)
    }

    /// A never-seen instance, as a key fetch first records it.
    package static func seen(_ credential: CredentialID, instance: String, group: String, at: Date) -> AgentInstance {
        AgentInstance(credentialID: credential, instance: instance, group: group, appliedVersion: nil, lastSeenAt: at, lastAck: nil)
    }
}
