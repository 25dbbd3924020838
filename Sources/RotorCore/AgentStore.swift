public import Foundation

/// What an agent instance reports after applying a key: its check passed or failed.
public enum AgentOutcome: String, Sendable, Hashable, Codable {
    /// The key is in place and the workload's check passed with it.
    case applied
    /// The reload or the check failed.
    case failed
}

/// One acknowledgement from an agent instance (`POST /v1/credentials/{id}/agent/acks`).
public struct AgentAcknowledgement: Sendable, Hashable {
    /// The credential the key belongs to.
    public var credentialID: CredentialID
    /// The instance's stable id, chosen by the agent.
    public var instance: String
    /// The agent group it serves.
    public var group: String
    /// The key version it applied (or failed to).
    public var version: Int
    /// The rotation job the version belongs to while it is pending; nil for a current version.
    /// A version number can come back after a rollback, so an acknowledgement counts only for
    /// the job whose key it was.
    public var jobID: JobID?
    /// How it went.
    public var outcome: AgentOutcome
    /// A short message from the agent (at most 512 characters). Never a secret.
    public var message: String?
    /// When Rotor received it.
    public var at: Date

    /// Creates an acknowledgement.
    public init(
        credentialID: CredentialID, instance: String, group: String, version: Int, jobID: JobID?,
        outcome: AgentOutcome, message: String?, at: Date
    ) {
        self.credentialID = credentialID
        self.instance = instance
        self.group = group
        self.version = version
        self.jobID = jobID
        self.outcome = outcome
        self.message = message
        self.at = at
    }

    /// Whether `text` can be an instance id: 1–128 of `[A-Za-z0-9._:-]`.
    public static func isValidInstance(_ text: String) -> Bool {
        (1...128).contains(text.utf8.count) && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: ":"):
                true
            default:
                false
            }
        }
    }
}

/// One agent instance of one credential, as the store keeps it.
public struct AgentInstance: Sendable, Hashable {
    /// The credential.
    public var credentialID: CredentialID
    /// The instance's id.
    public var instance: String
    /// Its group.
    public var group: String
    /// The last version it acknowledged as applied; nil before its first.
    public var appliedVersion: Int?
    /// When it was last heard from (a key fetch or an acknowledgement).
    public var lastSeenAt: Date
    /// Its last acknowledgement; nil before its first.
    public var lastAck: LastAck?

    /// The last acknowledgement of an instance.
    public struct LastAck: Sendable, Hashable {
        /// The version acknowledged.
        public var version: Int
        /// The job it was pending in, if any.
        public var jobID: JobID?
        /// How it went.
        public var outcome: AgentOutcome
        /// The agent's message.
        public var message: String?
        /// When it arrived.
        public var at: Date

        /// Creates the record.
        public init(version: Int, jobID: JobID?, outcome: AgentOutcome, message: String?, at: Date) {
            self.version = version
            self.jobID = jobID
            self.outcome = outcome
            self.message = message
            self.at = at
        }
    }

    /// Creates the record.
    public init(credentialID: CredentialID, instance: String, group: String, appliedVersion: Int?, lastSeenAt: Date, lastAck: LastAck?) {
        self.credentialID = credentialID
        self.instance = instance
        self.group = group
        self.appliedVersion = appliedVersion
        self.lastSeenAt = lastSeenAt
        self.lastAck = lastAck
    }

    /// Whether it was heard from within `window` before `now`.
    public func isLive(at now: Date, window: TimeInterval) -> Bool {
        now.timeIntervalSince(self.lastSeenAt) <= window
    }
}

/// How ``AgentStore/recordAgentAcknowledgement(_:)`` came out.
public enum AgentAckResult: Sendable, Hashable {
    /// Stored; the instance as it is now.
    case recorded(AgentInstance)
    /// The instance's last acknowledgement is this one already: nothing changed.
    case replayed(AgentInstance)
    /// The instance is known under another group: nothing changed.
    case groupMismatch(AgentInstance)
}

/// Agent instances and their acknowledgements (issue 14). Acknowledgements are durable: the engine
/// derives `verify`'s outcome for agent targets from what is stored here, so a restart of Rotor
/// converges to the same outcome.
public protocol AgentStore: Sendable {
    /// Records that `instance` of `group` was heard from at `at` (it fetched a key), creating it
    /// if new. An instance known under another group is left as it is (false).
    func recordAgentSeen(_ credential: CredentialID, instance: String, group: String, at: Date) async throws -> Bool
    /// Stores an acknowledgement, unless it repeats the instance's last one or names another
    /// group than the instance's. In the same transaction, the credential's job waiting in
    /// `verify` is made due now and its revision bumped (so a runner mid-verify commits nothing
    /// stale and looks again); a shared store tells the other instances.
    func recordAgentAcknowledgement(_ ack: AgentAcknowledgement) async throws -> AgentAckResult
    /// The credential's instances, by group then id.
    func agentInstances(_ credential: CredentialID) async throws -> [AgentInstance]
}
