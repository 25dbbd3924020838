import Foundation
import NIOHTTP1
import RotorCore
import RotorHTTP

/// `/v1/credentials` (DESIGN.md §4, Credentials).
///
/// Create validates every field first (one 422 listing all field errors), then checks the secret
/// at the provider and resolves its key id, and only then stores anything. Responses carry
/// metadata only; the one exception is a target signing secret Rotor generated, shown in the
/// create (or patch) response that made it and never again.
enum CredentialRoutes {
    static func register(on v1: ScopedRoutes, services: RotationServices) {
        v1.post("/credentials") { request in
            try await self.create(request, services: services)
        }
        v1.get("/credentials") { request in
            var result = try await readPage(request, services.store.credentials)
            if let bound = request.principal?.credentialIDs {
                // A bound token lists only its credentials; a page may then hold fewer than
                // `limit` items while `next_cursor` still leads on.
                result.items.removeAll { !bound.contains($0.id.rawValue) }
            }
            return try Response.json(ListResponse(data: result.items.map { CredentialResource(credential: $0) }, nextCursor: result.nextCursor))
        }
        v1.get("/credentials/{id}") { request in
            let credential = try await self.load(request, services: services)
            return try Response.json(CredentialResource(credential: credential))
        }
        v1.patch("/credentials/{id}") { request in
            try await self.update(request, services: services)
        }
        v1.delete("/credentials/{id}") { request in
            let id = try request.id("id", as: CredentialID.self)
            _ = try request.require(.credentialsWrite, on: id)
            try await Self.refuseIfManaging(id, services: services, doing: "deleted")
            try await Audit.recording("credential.delete", id.rawValue, at: services.clock.now()) {
                try await services.store.deleteCredential(id)
            }
            return .noContent
        }
    }

    // MARK: Handlers

    private static func load(_ request: Request, services: RotationServices) async throws -> Credential {
        let id = try request.id("id", as: CredentialID.self)
        _ = try request.require(.credentialsRead, on: id)
        guard let credential = try await services.store.credential(id) else {
            throw HTTPError.notFound("No credential with this id exists.")
        }
        return credential
    }

    private static func create(_ request: Request, services: RotationServices) async throws -> Response {
        if request.principal?.credentialIDs != nil {
            throw HTTPError.forbidden("A token bound to credentials cannot register new ones.")
        }
        let body = try request.decode(CredentialCreateBody.self)
        var errors: [HTTPError.FieldError] = []

        // Field validation, all of it, before anything else.
        if let name = body.name {
            if !Credential.isValidName(name) {
                errors.append(.init(field: "name", message: "must be 1–64 characters of [A-Za-z0-9._-]"))
            }
        } else {
            errors.append(.init(field: "name", message: "is required"))
        }
        var provider: (any Provider)?
        if let text = body.provider {
            provider = services.providers[ProviderKind(rawValue: text)]
            if provider == nil {
                let known = services.providers.keys.map { "\"\($0.rawValue)\"" }.sorted().joined(separator: ", ")
                errors.append(.init(field: "provider", message: "must be one of \(known) (GET /v1/providers lists them)"))
            }
        } else {
            errors.append(.init(field: "provider", message: "is required"))
        }
        let managerID = Self.validateManager(body, provider: provider, errors: &errors)
        if let secret = body.secret {
            if let problem = Self.secretProblem(secret) { errors.append(.init(field: "secret", message: problem)) }
        } else {
            errors.append(.init(field: "secret", message: "is required"))
        }
        if let keyID = body.providerKeyID, keyID.isEmpty || keyID.utf8.count > 128 {
            errors.append(.init(field: "provider_key_id", message: "must be 1–128 characters"))
        }
        var keyExpiry: ISODuration?
        if let text = body.keyExpiry {
            keyExpiry = Self.duration(text, field: "key_expiry", errors: &errors)
        }
        var targets: [ValidTarget] = []
        if let bodies = body.targets {
            targets = Self.validate(targets: bodies, services: services, errors: &errors)
        } else {
            errors.append(.init(field: "targets", message: "is required (it may be empty)"))
        }
        let schedule = body.schedule.flatMap {
            Self.validate(schedule: $0, keyExpiry: keyExpiry, minimum: services.minimumSchedulePeriod, errors: &errors)
        }
        if let labels = body.labels { Self.validate(labels: labels, errors: &errors) }

        guard errors.isEmpty, let name = body.name, let provider, let secretText = body.secret else {
            throw HTTPError.invalidBody(errors)
        }
        let secret = Secret(secretText)
        // Where the credential's next keys will go: as sensitive as reading them.
        if !targets.isEmpty { try request.requireTargetsWrite(on: nil) }

        // The secret must authenticate, and its key must be found, before anything is stored.
        // A managed user's keys are listed (and later created and deleted) with the manager's key.
        var keysProvider = provider
        if let managerID, let subject = body.subject {
            keysProvider = try await Self.managedProvider(provider, manager: managerID, subject: subject, request, services)
        }
        do {
            try await keysProvider.verify(key: secret)
        } catch {
            throw Self.problem(error, doing: "check the secret")
        }
        let keys: [ProviderKey]
        do {
            keys = try await keysProvider.listKeys(using: secret)
        } catch where managerID != nil && !error.isTransient {
            let status = error.status.map { " (HTTP \($0))" } ?? ""
            throw HTTPError.invalidRequest(
                "The manager credential's key may not list this user's keys\(status); nothing was stored.",
                errors: [.init(field: "manager_credential_id", message: "has no permission to manage the keys of subject \(Self.quoted(body.subject ?? ""))")]
            )
        } catch {
            throw Self.problem(error, doing: "list the keys of the secret's account")
        }
        let listed: ProviderKey
        if let keyID = body.providerKeyID {
            guard let match = keys.first(where: { $0.id == keyID }) else {
                throw HTTPError.invalidRequest(
                    "The provider lists no key with this id for the secret's account.",
                    errors: [.init(field: "provider_key_id", message: "is not a key of the account the secret belongs to")]
                )
            }
            listed = match
        } else {
            switch KeyResolution(of: secret, in: keys) {
            case .found(let key):
                listed = key
            case .notFound:
                throw HTTPError.invalidRequest(
                    "The secret's key could not be found in the provider's key list by its visible suffix.",
                    errors: [.init(field: "provider_key_id", message: "is required: no listed key matches the secret's suffix")]
                )
            case .ambiguous(let ids):
                throw HTTPError.invalidRequest(
                    "Several of the provider's keys end like the secret.",
                    errors: [.init(field: "provider_key_id", message: "is required: \(ids.count) listed keys match the secret's suffix")]
                )
            }
        }

        let now = services.clock.now()
        var signingSecrets: [TargetID: Secret] = [:]
        var generated: [TargetID: String] = [:]
        let storedTargets = Self.materialize(targets, services: services, signingSecrets: &signingSecrets, generated: &generated)
        var credential = Credential(
            id: .generate(),
            name: name,
            provider: provider.kind,
            state: .active,
            version: 1,
            current: KeyInfo(providerKeyID: listed.id, fingerprint: services.fingerprint(secret), createdAt: now, expiresAt: listed.expiresAt),
            targets: storedTargets,
            schedule: schedule,
            keyExpiry: keyExpiry,
            labels: body.labels ?? [:],
            createdAt: now,
            updatedAt: now,
            managerCredentialID: managerID,
            subject: managerID == nil ? nil : body.subject
        )
        credential.nextRotationAt = credential.scheduledRotationAt()
        try await Audit.recording("credential.create", credential.id.rawValue, at: now) {
            try await services.store.createCredential(credential, secrets: CredentialSecrets(current: secret, signingSecrets: signingSecrets))
        }
        return try Response.json(
            CredentialResource(credential: credential, generatedSigningSecrets: generated),
            status: .created,
            headers: ["Location": "/v1/credentials/\(credential.id.rawValue)"]
        )
    }

    private static func update(_ request: Request, services: RotationServices) async throws -> Response {
        let id = try request.id("id", as: CredentialID.self)
        _ = try request.require(.credentialsWrite, on: id)
        let body = try request.decode(CredentialPatchBody.self)
        guard !body.isEmpty else {
            throw HTTPError.invalidRequest("Nothing to change: give at least one of targets, schedule, labels or state.")
        }
        var errors: [HTTPError.FieldError] = []
        var targets: [ValidTarget]?
        if let bodies = body.targets {
            targets = Self.validate(targets: bodies, services: services, errors: &errors)
        }
        var schedule: Schedule??
        switch body.schedule {
        case .absent: schedule = nil
        case .null: schedule = .some(nil)
        case .value(let value): schedule = .some(Self.validate(schedule: value, keyExpiry: nil, minimum: services.minimumSchedulePeriod, errors: &errors))
        }
        if let labels = body.labels { Self.validate(labels: labels, errors: &errors) }
        var state: CredentialState?
        if let text = body.state {
            switch text {
            case "active": state = .active
            case "disabled": state = .disabled
            default: errors.append(.init(field: "state", message: "must be \"active\" or \"disabled\""))
            }
        }
        guard errors.isEmpty else {
            throw HTTPError.invalidBody(errors)
        }

        guard var credential = try await services.store.credential(id) else {
            throw HTTPError.notFound("No credential with this id exists.")
        }
        if case .some(.some(let newSchedule)) = schedule, let before = newSchedule.beforeExpiry?.fixedSeconds,
            let lifetime = credential.keyExpiry?.fixedSeconds, lifetime - before < services.minimumSchedulePeriod
        {
            throw HTTPError.invalidBody(
                field: "schedule.before_expiry",
                "must leave at least \(ISODuration(seconds: services.minimumSchedulePeriod)) between a new key and its rotation (key_expiry minus before_expiry)")
        }
        if let targets {
            // Removing targets, or keeping them as they are, sends no key anywhere new.
            let existing = Set(credential.targets.map { [$0.url, $0.verifyURL ?? ""] })
            if targets.contains(where: { !existing.contains([$0.url, $0.verifyURL ?? ""]) }) {
                try request.requireTargetsWrite(on: id)
            }
        }
        if credential.state == .rotating, state != nil || targets != nil {
            let active = try? await services.store.jobs(JobFilter(credentialID: id), PageRequest(limit: 1)).items.first { !$0.state.isTerminal }
            throw HTTPError.conflict(
                code: "rotation_in_progress",
                "The credential is being rotated; its state and targets can change once the job ends.",
                extensions: active.map { ["job_id": $0.id.rawValue] } ?? [:]
            )
        }
        var signingSecrets: [TargetID: Secret]?
        var generated: [TargetID: String] = [:]
        if let targets {
            var secrets: [TargetID: Secret] = [:]
            credential.targets = Self.materialize(targets, services: services, signingSecrets: &secrets, generated: &generated)
            signingSecrets = secrets
        }
        if let schedule { credential.schedule = schedule }
        if let labels = body.labels { credential.labels = labels }
        if state == .disabled, credential.state != .disabled {
            try await Self.refuseIfManaging(id, services: services, doing: "disabled")
        }
        if let state { credential.state = state }
        let readAt = credential.updatedAt
        credential.updatedAt = services.clock.now()
        if schedule != nil || state != nil {
            // Only a change of schedule or state moves the scheduler's cursor: a labels or
            // targets change must not undo the retry time after a scheduled rotation failed.
            credential.nextRotationAt = credential.scheduledRotationAt()
        }
        // Compare-and-set: a job starting (or the engine committing) meanwhile answers 409.
        try await Audit.recording("credential.update", id.rawValue, at: services.clock.now()) {
            try await services.store.updateCredential(credential, signingSecrets: signingSecrets, ifUnmodifiedSince: readAt)
        }
        return try Response.json(CredentialResource(credential: credential, generatedSigningSecrets: generated))
    }

    // MARK: Validation

    /// A target that passed validation, before it has an id.
    struct ValidTarget {
        var url: String
        var verifyURL: String?
        var signingSecret: String?
        /// An agent target's settings (its id is a placeholder).
        var agent: Target?
    }

    /// An agent target: `group` required, `min_live` 1–1000 (default 1), `verify_timeout` an ISO
    /// duration from 1 second to 1 day; no `url`, `verify_url` or `signing_secret`.
    private static func validate(agentTarget body: TargetBody, path: String, taken: [String?], errors: inout [HTTPError.FieldError]) -> Target? {
        let before = errors.count
        for (field, value) in [("url", body.url), ("verify_url", body.verifyURL), ("signing_secret", body.signingSecret)] where value != nil {
            errors.append(.init(field: "\(path).\(field)", message: "is not allowed on an agent target"))
        }
        if let group = body.group {
            if !Target.isValidGroup(group) {
                errors.append(.init(field: "\(path).group", message: "must be 1–64 characters of [A-Za-z0-9._-]"))
            } else if taken.contains(group) {
                errors.append(.init(field: "\(path).group", message: "is already served by another target of this credential"))
            }
        } else {
            errors.append(.init(field: "\(path).group", message: "is required on an agent target"))
        }
        if let minLive = body.minLive, !(1...1000).contains(minLive) {
            errors.append(.init(field: "\(path).min_live", message: "must be a whole number from 1 to 1000"))
        }
        var timeout: ISODuration?
        if let text = body.verifyTimeout {
            timeout = Self.duration(text, field: "\(path).verify_timeout", errors: &errors)
            if let seconds = timeout?.fixedSeconds, !(1...86_400).contains(seconds) {
                errors.append(.init(field: "\(path).verify_timeout", message: "must be from PT1S to P1D"))
            } else if timeout != nil, timeout?.fixedSeconds == nil {
                errors.append(.init(field: "\(path).verify_timeout", message: "must be a fixed duration (no years or months)"))
            }
        }
        guard errors.count == before, let group = body.group else { return nil }
        return Target(id: TargetID(unchecked: "trg_pending"), agentGroup: group, minLive: body.minLive ?? 1, verifyTimeout: timeout)
    }

    static let maximumTargets = 50
    static let maximumLabels = 64

    /// Non-empty, at most 256 characters, printable ASCII without spaces (it travels in an
    /// `Authorization` header).
    static func secretProblem(_ secret: String) -> String? {
        if secret.isEmpty { return "must not be empty" }
        if secret.utf8.count > 256 { return "must be at most 256 characters" }
        if !secret.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) { return "must be printable ASCII without spaces" }
        return nil
    }

    private static func duration(_ text: String, field: String, errors: inout [HTTPError.FieldError]) -> ISODuration? {
        do {
            let duration = try ISODuration(parsing: text)
            if duration.isZero {
                errors.append(.init(field: field, message: "must be longer than zero"))
                return nil
            }
            return duration
        } catch {
            errors.append(.init(field: field, message: error.description))
            return nil
        }
    }

    private static func validate(targets bodies: [TargetBody], services: RotationServices, errors: inout [HTTPError.FieldError]) -> [ValidTarget] {
        if bodies.count > Self.maximumTargets {
            errors.append(.init(field: "targets", message: "must have at most \(Self.maximumTargets) entries"))
            return []
        }
        var result: [ValidTarget] = []
        for (index, body) in bodies.enumerated() {
            let path = "targets[\(index)]"
            var valid = true
            switch body.type {
            case nil: errors.append(.init(field: "\(path).type", message: "is required")); valid = false
            case Target.Kind.webhook.rawValue?: break
            case Target.Kind.agent.rawValue?:
                if let agent = Self.validate(agentTarget: body, path: path, taken: result.compactMap(\.agent?.group), errors: &errors) {
                    result.append(ValidTarget(url: "", agent: agent))
                }
                continue
            default: errors.append(.init(field: "\(path).type", message: "must be \"webhook\" or \"agent\"")); valid = false
            }
            if let url = body.url {
                if let problem = OutboundURL.problem(with: url, policy: services.outboundPolicy) {
                    errors.append(.init(field: "\(path).url", message: problem)); valid = false
                } else if url.utf8.count > 2048 {
                    errors.append(.init(field: "\(path).url", message: "must be at most 2048 characters")); valid = false
                }
            } else {
                errors.append(.init(field: "\(path).url", message: "is required")); valid = false
            }
            if let url = body.verifyURL {
                if let problem = OutboundURL.problem(with: url, policy: services.outboundPolicy) {
                    errors.append(.init(field: "\(path).verify_url", message: problem)); valid = false
                } else if url.utf8.count > 2048 {
                    errors.append(.init(field: "\(path).verify_url", message: "must be at most 2048 characters")); valid = false
                }
            }
            if let secret = body.signingSecret, !services.isValidSigningSecret(secret) {
                errors.append(.init(field: "\(path).signing_secret", message: "must be a whsec_ secret (whsec_ + base64 of 24–64 random bytes)"))
                valid = false
            }
            if valid, let url = body.url {
                result.append(ValidTarget(url: url, verifyURL: body.verifyURL, signingSecret: body.signingSecret))
            }
        }
        return result
    }

    /// A schedule may not rotate more often than `minimum` (`ROTOR_MIN_SCHEDULE_PERIOD`): by
    /// `every`, or by `before_expiry` so close to `key_expiry` that each new key is due at once.
    /// Each scheduled rotation hands targets a new key, so a tiny period is a way to make Rotor
    /// send keys out over and over.
    private static func validate(
        schedule body: ScheduleBody, keyExpiry: ISODuration?, minimum: TimeInterval, errors: inout [HTTPError.FieldError]
    ) -> Schedule? {
        if body.every == nil && body.beforeExpiry == nil {
            errors.append(.init(field: "schedule", message: "must set every, before_expiry or both (null removes the schedule)"))
            return nil
        }
        let least = ISODuration(seconds: minimum)
        let every = body.every.flatMap { Self.duration($0, field: "schedule.every", errors: &errors) }
        if let every, let seconds = every.fixedSeconds, seconds < minimum {
            errors.append(.init(field: "schedule.every", message: "must be at least \(least) (ROTOR_MIN_SCHEDULE_PERIOD)"))
        }
        let beforeExpiry = body.beforeExpiry.flatMap { Self.duration($0, field: "schedule.before_expiry", errors: &errors) }
        if let beforeExpiry, let before = beforeExpiry.fixedSeconds, let lifetime = keyExpiry?.fixedSeconds, lifetime - before < minimum {
            errors.append(
                .init(field: "schedule.before_expiry", message: "must leave at least \(least) between a new key and its rotation (key_expiry minus before_expiry)"))
        }
        return Schedule(every: every, beforeExpiry: beforeExpiry)
    }

    private static func validate(labels: [String: String], errors: inout [HTTPError.FieldError]) {
        if labels.count > Self.maximumLabels {
            errors.append(.init(field: "labels", message: "must have at most \(Self.maximumLabels) entries"))
            return
        }
        for key in labels.keys.sorted() {
            let validKey = (1...63).contains(key.utf8.count) && key.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                    UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "/"), UInt8(ascii: "-"):
                    true
                default:
                    false
                }
            }
            guard validKey else {
                errors.append(.init(field: "labels", message: "keys must be 1–63 characters of [A-Za-z0-9._/-]"))
                continue
            }
            if let value = labels[key], value.utf8.count > 256 {
                errors.append(.init(field: "labels.\(key)", message: "must be at most 256 characters"))
            }
        }
    }

    // MARK: Helpers

    /// Gives each target an id and a signing secret: the one it brought, or a new one that is
    /// also returned in `generated` (to be shown once).
    private static func materialize(
        _ targets: [ValidTarget],
        services: RotationServices,
        signingSecrets: inout [TargetID: Secret],
        generated: inout [TargetID: String]
    ) -> [Target] {
        targets.map { valid in
            if var agent = valid.agent {
                agent.id = .generate()
                return agent
            }
            let target = Target(id: .generate(), type: .webhook, url: valid.url, verifyURL: valid.verifyURL)
            if let given = valid.signingSecret {
                signingSecrets[target.id] = Secret(given)
            } else {
                let secret = services.generateSigningSecret()
                signingSecrets[target.id] = secret
                generated[target.id] = secret.reveal()
            }
            return target
        }
    }

    /// A provider failure during create as a problem; never carries the secret.
    // MARK: Manager credentials

    /// `manager_credential_id` and `subject`: both for a provider whose keys a manager
    /// credential manages, neither otherwise. The manager's id when they are valid.
    private static func validateManager(_ body: CredentialCreateBody, provider: (any Provider)?, errors: inout [HTTPError.FieldError]) -> CredentialID? {
        guard let provider else { return nil }
        guard provider.isManagedThroughManager else {
            let only = "is only for a provider whose keys a manager credential manages (GET /v1/providers: management \"manager\")"
            if body.managerCredentialID != nil { errors.append(.init(field: "manager_credential_id", message: only)) }
            if body.subject != nil { errors.append(.init(field: "subject", message: only)) }
            return nil
        }
        var managerID: CredentialID?
        if let text = body.managerCredentialID {
            managerID = CredentialID(text)
            if managerID == nil { errors.append(.init(field: "manager_credential_id", message: "must be a credential id (cred_…)")) }
        } else {
            errors.append(.init(field: "manager_credential_id", message: "is required: this provider's keys are managed through another credential's key"))
        }
        if let subject = body.subject {
            if subject.isEmpty || subject.utf8.count > 128 || !subject.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }) {
                errors.append(.init(field: "subject", message: "must be 1–128 printable characters without spaces (the managed user's id)"))
            }
        } else {
            errors.append(.init(field: "subject", message: "is required: the id of the user whose keys the manager's key manages"))
        }
        return managerID
    }

    /// `provider` for `subject`'s keys, managed with the manager credential's current key; 422
    /// unless the manager is a credential the caller may use, whose key manages keys by itself,
    /// at the same API.
    private static func managedProvider(
        _ provider: any Provider, manager managerID: CredentialID, subject: String, _ request: Request, _ services: RotationServices
    ) async throws -> any Provider {
        func refused(_ message: String) -> HTTPError {
            HTTPError.invalidRequest("The manager credential cannot manage this key: \(message)", errors: [.init(field: "manager_credential_id", message: message)])
        }
        guard request.principal?.mayAct(on: managerID) ?? false, let manager = try await services.store.credential(managerID) else {
            throw refused("names no credential")
        }
        guard manager.managerCredentialID == nil, let managerProvider = services.providers[manager.provider], !managerProvider.isManagedThroughManager else {
            throw refused("must be a credential whose key manages keys by itself")
        }
        let baseURL = { (kind: ProviderKind) in services.providerCatalog.first { $0.name == kind.rawValue }?.baseURL }
        guard baseURL(manager.provider) != nil, baseURL(manager.provider) == baseURL(provider.kind) else {
            throw refused("is a credential at another provider's API (\(manager.provider.rawValue))")
        }
        let managerKey = try await services.store.credentialSecrets(managerID).current
        guard let managed = provider.managing(subject: subject, with: managerKey) else { throw refused("cannot manage this provider's keys") }
        return managed
    }

    /// 409 while other credentials name `id` as their manager: their rotations need its key.
    private static func refuseIfManaging(_ id: CredentialID, services: RotationServices, doing action: String) async throws {
        var dependents: [Credential] = []
        var page = PageRequest(limit: 200)
        while true {
            let credentials = try await services.store.credentials(page)
            dependents += credentials.items.filter { $0.managerCredentialID == id }
            guard let next = credentials.nextCursor else { break }
            page = PageRequest(limit: 200, cursor: next)
        }
        guard dependents.isEmpty else {
            throw HTTPError.conflict(
                code: "manager_in_use",
                "The credential manages the keys of \(dependents.count) other credential(s) (\(dependents.prefix(5).map(\.name).joined(separator: ", "))); it cannot be \(action) while they name it.",
                extensions: ["credential_ids": dependents.map(\.id.rawValue).joined(separator: ",")]
            )
        }
    }

    private static func quoted(_ text: String) -> String { "\"" + text + "\"" }

    private static func problem(_ error: ProviderError, doing action: String) -> HTTPError {
        if error.isTransient {
            return .unavailable("The provider could not be reached to \(action); try again later.")
        }
        let status = error.status.map { " (HTTP \($0))" } ?? ""
        return HTTPError(
            .unprocessableEntity,
            code: "provider_rejected",
            detail: "The provider refused the secret when asked to \(action)\(status); nothing was stored.",
            errors: [.init(field: "secret", message: "was not accepted by the provider")]
        )
    }
}
