public import Foundation
import GRDB
public import RotorCore
import RotorStorage

extension SQLiteStore {
    /// `v8-agent-instances`: agent instances per credential and their last acknowledgement.
    static func registerAgentMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v8-agent-instances") { db in
            try db.execute(
                sql: """
                    CREATE TABLE agent_instances (
                        credential_id TEXT NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
                        instance_id TEXT NOT NULL,
                        group_name TEXT NOT NULL,
                        applied_version INTEGER,
                        last_seen_at REAL NOT NULL,
                        ack_version INTEGER,
                        ack_job_id TEXT,
                        ack_outcome TEXT,
                        ack_message TEXT,
                        ack_at REAL,
                        PRIMARY KEY (credential_id, instance_id)
                    );
                    """
            )
        }
    }

    private static let upsertAgentSQL = """
        INSERT INTO agent_instances (\(AgentRows.columns.joined(separator: ", "))) VALUES (\(placeholders(AgentRows.columns.count)))
        ON CONFLICT (credential_id, instance_id) DO UPDATE SET
        \(AgentRows.columns.dropFirst(2).map { "\($0) = excluded.\($0)" }.joined(separator: ", "))
        """

    private static func fetchAgent(_ db: Database, _ credential: CredentialID, _ instance: String) throws -> AgentInstance? {
        try db.fetchOne(
            "SELECT * FROM agent_instances WHERE credential_id = ? AND instance_id = ?", arguments: [credential.rawValue, instance],
            as: AgentRows.instance(from:))
    }
}

extension SQLiteStore: AgentStore {
    public func recordAgentSeen(_ credential: CredentialID, instance: String, group: String, at: Date) async throws -> Bool {
        try await self.writer.write { db in
            var row = try Self.fetchAgent(db, credential, instance) ?? AgentRows.seen(credential, instance: instance, group: group, at: at)
            guard row.group == group else { return false }
            row.lastSeenAt = max(row.lastSeenAt, at)
            try db.run(sql: Self.upsertAgentSQL, arguments: StatementArguments(AgentRows.values(row)))
            return true
        }
    }

    public func recordAgentAcknowledgement(_ ack: AgentAcknowledgement) async throws -> AgentAckResult {
        try await self.writer.write { db in
            let (result, row) = AgentRows.apply(ack, to: try Self.fetchAgent(db, ack.credentialID, ack.instance))
            guard let row else { return result }
            try db.run(sql: Self.upsertAgentSQL, arguments: StatementArguments(AgentRows.values(row)))
            // The job waiting for this acknowledgement looks again now; a runner mid-verify finds
            // the revision moved and reads the store afresh instead of committing a stale wait.
            try db.run(
                sql: """
                    UPDATE jobs SET revision = revision + 1, next_attempt_at = ?
                    WHERE credential_id = ? AND state = ? AND step = ?
                    """,
                arguments: [RowCoding.time(ack.at), ack.credentialID.rawValue, JobState.running.rawValue, JobStep.verify.rawValue]
            )
            return result
        }
    }

    public func agentInstances(_ credential: CredentialID) async throws -> [AgentInstance] {
        try await self.reads.read { db in
            try db.fetchAll(
                "SELECT * FROM agent_instances WHERE credential_id = ? ORDER BY group_name, instance_id", arguments: [credential.rawValue],
                as: AgentRows.instance(from:))
        }
    }
}
