public import Foundation
import PostgresNIO
public import RotorCore
import RotorStorage

extension PostgresStore {
    /// `v8-agent-instances`: agent instances per credential and their last acknowledgement.
    static let agentMigration = Migration(
        version: "v8-agent-instances",
        statements: [
            """
            CREATE TABLE agent_instances (
                credential_id text NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
                instance_id text NOT NULL,
                group_name text NOT NULL,
                applied_version bigint,
                last_seen_at double precision NOT NULL,
                ack_version bigint,
                ack_job_id text,
                ack_outcome text,
                ack_message text,
                ack_at double precision,
                PRIMARY KEY (credential_id, instance_id)
            )
            """
        ]
    )

    private static func upsertAgent(_ tx: Transaction, _ instance: AgentInstance) async throws {
        let sql = SQL("INSERT INTO agent_instances (\(AgentRows.columns.joined(separator: ", "))) VALUES (")
        sql.append(sql.bind(AgentRows.values(instance)))
        sql.append(") ON CONFLICT (credential_id, instance_id) DO UPDATE SET ")
        sql.append(AgentRows.columns.dropFirst(2).map { "\($0) = excluded.\($0)" }.joined(separator: ", "))
        try await tx.run(sql)
    }

    private static func fetchAgent(_ tx: Transaction, _ credential: CredentialID, _ instance: String) async throws -> AgentInstance? {
        try await tx.rows(
            "SELECT * FROM agent_instances WHERE credential_id = \(credential.rawValue) AND instance_id = \(instance) FOR UPDATE"
        ).first.map(AgentRows.instance(from:))
    }
}

extension PostgresStore: AgentStore {
    public func recordAgentSeen(_ credential: CredentialID, instance: String, group: String, at: Date) async throws -> Bool {
        try await self.write { tx in
            var row = try await Self.fetchAgent(tx, credential, instance) ?? AgentRows.seen(credential, instance: instance, group: group, at: at)
            guard row.group == group else { return false }
            row.lastSeenAt = max(row.lastSeenAt, at)
            try await Self.upsertAgent(tx, row)
            return true
        }
    }

    public func recordAgentAcknowledgement(_ ack: AgentAcknowledgement) async throws -> AgentAckResult {
        try await self.write { tx in
            let (result, row) = AgentRows.apply(ack, to: try await Self.fetchAgent(tx, ack.credentialID, ack.instance))
            guard let row else { return result }
            try await Self.upsertAgent(tx, row)
            // The job waiting for this acknowledgement looks again now, on whichever instance;
            // a runner mid-verify finds the revision moved and reads the store afresh.
            try await tx.run(
                """
                UPDATE jobs SET revision = revision + 1, next_attempt_at = \(RowCoding.time(ack.at))
                WHERE credential_id = \(ack.credentialID.rawValue) AND state = \(JobState.running.rawValue) AND step = \(JobStep.verify.rawValue)
                """
            )
            try await Self.notifyJobs(tx)
            return result
        }
    }

    public func agentInstances(_ credential: CredentialID) async throws -> [AgentInstance] {
        try await self.read { tx in
            try await tx.rows(
                "SELECT * FROM agent_instances WHERE credential_id = \(credential.rawValue) ORDER BY group_name COLLATE \"C\", instance_id COLLATE \"C\""
            ).map(AgentRows.instance(from:))
        }
    }
}
