import Foundation
import NIOHTTP1
import RotorCore
import RotorHTTP

/// `/v1/credentials/{id}/agent/…`: what `rotor agent` talks to (issue 14, docs/agents.md).
///
/// - `GET …/agent/key` hands an agent the key to apply: the pending one while a rotation waits in
///   `verify` for its acknowledgement, else the current one. It is a secret read, for tokens with
///   the `agent` scope (or `secrets:read`) bound to the credential, audited like
///   `GET …/secret`; with `instance` and `group` it also counts as hearing from that instance.
/// - `POST …/agent/acks` records that an instance applied a version (or failed to) and wakes the
///   rotation waiting for it. Replays and stale acknowledgements change nothing.
/// - `GET …/agent/instances` lists the credential's instances with their state and liveness.
enum AgentRoutes {
    static func register(on v1: ScopedRoutes, services: RotationServices) {
        v1.get("/credentials/{id}/agent/key") { request in try await self.key(request, services) }
        v1.post("/credentials/{id}/agent/acks") { request in try await self.acknowledge(request, services) }
        v1.get("/credentials/{id}/agent/instances") { request in
            let id = try request.id("id", as: CredentialID.self)
            _ = try request.require(.credentialsRead, on: id)
            guard try await services.store.credential(id) != nil else { throw HTTPError.notFound("No credential with this id exists.") }
            let now = services.clock.now()
            let instances = try await services.store.agentInstances(id)
            return try Response.json(ListResponse(
                data: instances.map { AgentInstanceResource($0, live: $0.isLive(at: now, window: services.agentLiveness)) }, nextCursor: nil))
        }
    }

    /// The versions an agent may fetch or acknowledge now, read in one store transaction.
    struct Versions {
        var credential: Credential
        var current: (secret: Secret, version: Int)
        /// The job's key while it waits in `verify` (after `distribute` made it available).
        var pending: (secret: Secret, version: Int, job: JobID)?
    }

    static func versions(_ id: CredentialID, _ services: RotationServices) async throws -> Versions {
        guard let credential = try await services.store.credential(id) else { throw HTTPError.notFound("No credential with this id exists.") }
        if credential.state == .rotating,
            let active = try await services.store.jobs(JobFilter(credentialID: id, state: .running), PageRequest(limit: 1)).items.first
        {
            // One transaction: the job, the credential and both keys as they were together.
            let rotation = try await services.store.rotation(active.id)
            var versions = Versions(credential: rotation.credential, current: (rotation.secrets.current, rotation.credential.version))
            if rotation.job.state == .running, rotation.job.step == .verify, let pending = rotation.pendingKey {
                versions.pending = (pending, rotation.credential.version + 1, rotation.job.id)
            }
            return versions
        }
        let (secret, version) = try await SecretRoutes.currentKey(id, store: services.store)
        return Versions(credential: credential, current: (secret, version))
    }

    // MARK: GET key

    private static func key(_ request: Request, _ services: RotationServices) async throws -> Response {
        let id = try request.id("id", as: CredentialID.self)
        guard let principal = request.principal else { throw HTTPError.unauthorized("This endpoint needs an 'Authorization: Bearer <token>' header.") }
        let now = services.clock.now()
        guard principal.credentialIDs != nil, principal.mayAct(on: id) else {
            try await services.store.appendAudit(AuditRecord(at: now, actor: principal.id, action: "secret.read", resource: id.rawValue, outcome: "denied"))
            throw HTTPError.notFound("No credential with this id exists.")
        }
        var errors: [HTTPError.FieldError] = []
        var wanted: Int?
        if let text = request.query["version"] {
            if let number = Int(text), number >= 1 { wanted = number } else { errors.append(.init(field: "version", message: "must be a whole number from 1")) }
        }
        let instance = request.query["instance"]
        let group = request.query["group"]
        if let instance, !AgentAcknowledgement.isValidInstance(instance) {
            errors.append(.init(field: "instance", message: "must be 1–128 characters of [A-Za-z0-9._:-]"))
        }
        if let group, !Target.isValidGroup(group) {
            errors.append(.init(field: "group", message: "must be 1–64 characters of [A-Za-z0-9._-]"))
        }
        if (instance == nil) != (group == nil) {
            errors.append(.init(field: instance == nil ? "instance" : "group", message: "is required when \(instance == nil ? "group" : "instance") is given"))
        }
        var knownVersion: Int?
        if let text = request.query["known_version"] {
            if let number = Int(text), number >= 1 { knownVersion = number } else { errors.append(.init(field: "known_version", message: "must be a whole number from 1")) }
            if wanted != nil { errors.append(.init(field: "known_version", message: "cannot be combined with version")) }
        }
        let knownStatus = request.query["known_status"]
        if let knownStatus, knownStatus != "current", knownStatus != "pending" {
            errors.append(.init(field: "known_status", message: "must be \"current\" or \"pending\""))
        }
        var wait: TimeInterval = 0
        do throws(HTTPError) { wait = try KeyLongPoll.waitSeconds(request) } catch { errors += error.errors }
        if request.query["wait"] != nil || knownStatus != nil, request.query["known_version"] == nil {
            errors.append(.init(field: "known_version", message: "is required with \(knownStatus != nil ? "known_status" : "wait")"))
        }
        guard errors.isEmpty else { throw HTTPError.invalidRequest("The query is invalid.", errors: errors) }

        let versions = try await Self.versions(id, services)
        if let group { try Self.requireGroup(group, of: versions.credential) }
        if let instance, let group {
            guard try await services.store.recordAgentSeen(id, instance: instance, group: group, at: now) else {
                throw Self.groupMismatch(instance)
            }
        }
        // The key to hand out, unless it is the one the agent says it has.
        let serve: @Sendable (Versions) async throws -> Response? = { [wanted, knownVersion] versions in
            let chosen = try Self.choose(wanted, from: versions)
            if let knownVersion, chosen.version == knownVersion, knownStatus.map({ $0 == chosen.status }) ?? true { return nil }
            try await services.store.appendAudit(
                AuditRecord(
                    at: services.clock.now(), actor: principal.id, action: "secret.read", resource: id.rawValue,
                    outcome: "success (\(chosen.status) version \(chosen.version))"))
            var response = try Response.json(
                AgentKeyResponse(secret: chosen.secret.reveal(), version: chosen.version, status: chosen.status, fingerprint: services.fingerprint(chosen.secret)))
            response.headers.replaceOrAdd(name: "Cache-Control", value: "no-store")
            return response
        }
        guard knownVersion != nil else { return try await serve(versions) ?? .noContent }
        // An instance is live while it holds a long-poll: held at most half the liveness window,
        // the next fetch (which counts as hearing from it) comes before it could be judged silent.
        let held = instance == nil ? wait : min(wait, services.agentLiveness / 2)
        return try await KeyLongPoll.answer(id, waiting: held, request, services) {
            try await serve(Self.versions(id, services))
        } afterHold: {
            // It was there all along: heard from again as it is answered, so its next fetch has the
            // whole window to arrive. Best effort: a failed mark must not cost the agent its answer.
            guard let instance, let group else { return }
            _ = try? await services.store.recordAgentSeen(id, instance: instance, group: group, at: services.clock.now())
        }
    }

    /// The key `wanted` names (the pending one, else the current one, when it names none).
    private static func choose(_ wanted: Int?, from versions: Versions) throws(HTTPError) -> (secret: Secret, version: Int, status: String) {
        switch wanted {
        case nil:
            return versions.pending.map { ($0.secret, $0.version, "pending") } ?? (versions.current.secret, versions.current.version, "current")
        case versions.current.version?:
            return (versions.current.secret, versions.current.version, "current")
        case let version? where version == versions.pending?.version:
            return (versions.pending!.secret, version, "pending")
        case let version?:
            throw HTTPError.notFound(
                "No key of version \(version) is available: the current version is \(versions.current.version)\(versions.pending.map { ", the pending one \($0.version)" } ?? "").")
        }
    }

    // MARK: POST acks

    private static func acknowledge(_ request: Request, _ services: RotationServices) async throws -> Response {
        let id = try request.id("id", as: CredentialID.self)
        _ = try request.require(.agent, on: id)
        let body = try request.decode(AgentAckBody.self)
        var errors: [HTTPError.FieldError] = []
        if let instance = body.instance {
            if !AgentAcknowledgement.isValidInstance(instance) { errors.append(.init(field: "instance", message: "must be 1–128 characters of [A-Za-z0-9._:-]")) }
        } else {
            errors.append(.init(field: "instance", message: "is required"))
        }
        if let group = body.group {
            if !Target.isValidGroup(group) { errors.append(.init(field: "group", message: "must be 1–64 characters of [A-Za-z0-9._-]")) }
        } else {
            errors.append(.init(field: "group", message: "is required"))
        }
        if let version = body.version {
            if version < 1 { errors.append(.init(field: "version", message: "must be a whole number from 1")) }
        } else {
            errors.append(.init(field: "version", message: "is required"))
        }
        let outcome = body.outcome.flatMap(AgentOutcome.init(rawValue:))
        if outcome == nil { errors.append(.init(field: "outcome", message: "must be \"applied\" or \"failed\"")) }
        if let message = body.message, message.count > 512 || message.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            errors.append(.init(field: "message", message: "must be at most 512 characters without control characters"))
        }
        guard errors.isEmpty, let instance = body.instance, let group = body.group, let version = body.version, let outcome else {
            throw HTTPError.invalidBody(errors)
        }

        let versions = try await Self.versions(id, services)
        try Self.requireGroup(group, of: versions.credential)
        let job: JobID?
        if version == versions.current.version {
            job = nil
        } else if let pending = versions.pending, version == pending.version {
            job = pending.job
        } else {
            throw HTTPError.conflict(
                code: "unknown_version",
                "Version \(version) is neither the current version (\(versions.current.version)) nor a pending one; nothing was recorded.")
        }
        let now = services.clock.now()
        let ack = AgentAcknowledgement(
            credentialID: id, instance: instance, group: group, version: version, jobID: job, outcome: outcome, message: body.message, at: now)
        let result = try await Audit.recording("agent.acknowledge", id.rawValue, at: now, outcome: "\(outcome.rawValue) version \(version) by \(instance)") {
            try await services.store.recordAgentAcknowledgement(ack)
        }
        switch result {
        case .recorded(let stored):
            if job != nil { await services.wakeEngine() }
            return try Response.json(AgentInstanceResource(stored, live: true))
        case .replayed:
            throw HTTPError.conflict(code: "acknowledgement_replayed", "Instance \(instance) already acknowledged version \(version) so; nothing changed.")
        case .groupMismatch:
            throw Self.groupMismatch(instance)
        }
    }

    // MARK: Helpers

    private static func requireGroup(_ group: String, of credential: Credential) throws(HTTPError) {
        guard credential.targets.contains(where: { $0.type == .agent && $0.group == group }) else {
            throw HTTPError.invalidRequest(
                "The credential has no agent target for this group.", errors: [.init(field: "group", message: "is not an agent group of this credential")])
        }
    }

    private static func groupMismatch(_ instance: String) -> HTTPError {
        .conflict(code: "instance_group_mismatch", "Instance \(instance) is known under another group; nothing was recorded.")
    }
}

/// `POST /v1/credentials/{id}/agent/acks`.
struct AgentAckBody: Decodable {
    var instance: String?
    var group: String?
    var version: Int?
    var outcome: String?
    var message: String?
}

/// `GET /v1/credentials/{id}/agent/key`.
struct AgentKeyResponse: Encodable {
    var secret: String
    var version: Int
    var status: String
    var fingerprint: String
}

/// One agent instance: `{instance, group, applied_version, last_seen_at, live, last_acknowledgement}`.
struct AgentInstanceResource: Encodable {
    var instance: AgentInstance
    var live: Bool

    init(_ instance: AgentInstance, live: Bool) {
        self.instance = instance
        self.live = live
    }

    enum CodingKeys: String, CodingKey {
        case instance, group, live
        case appliedVersion = "applied_version"
        case lastSeenAt = "last_seen_at"
        case lastAcknowledgement = "last_acknowledgement"
    }

    struct Acknowledgement: Encodable {
        var version: Int
        var jobID: JobID?
        var outcome: AgentOutcome
        var message: String?
        var at: Date

        enum CodingKeys: String, CodingKey {
            case version, outcome, message, at
            case jobID = "job_id"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.version, forKey: .version)
            try container.encode(self.jobID, forKey: .jobID)
            try container.encode(self.outcome, forKey: .outcome)
            try container.encode(self.message, forKey: .message)
            try container.encode(self.at, forKey: .at)
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.instance.instance, forKey: .instance)
        try container.encode(self.instance.group, forKey: .group)
        try container.encode(self.instance.appliedVersion, forKey: .appliedVersion)
        try container.encode(self.instance.lastSeenAt, forKey: .lastSeenAt)
        try container.encode(self.live, forKey: .live)
        try container.encode(
            self.instance.lastAck.map { Acknowledgement(version: $0.version, jobID: $0.jobID, outcome: $0.outcome, message: $0.message, at: $0.at) },
            forKey: .lastAcknowledgement)
    }
}
