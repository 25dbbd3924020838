import Foundation
import RotorCore

extension JobRunner {
    /// Does the work of one attempt at `step`. Never throws: every failure is an outcome.
    func attempt(_ step: JobStep, _ rotation: inout Rotation, shouldContinue: @escaping @Sendable () async -> Bool) async -> Outcome {
        guard var provider = self.providers[rotation.credential.provider] else {
            return .permanent(JobError(code: "provider_unavailable", message: "No \(rotation.credential.provider.rawValue) provider is configured.", step: step))
        }
        do {
            if provider.isManagedThroughManager {
                provider = try await self.managed(provider, for: rotation.credential, step: step)
            }
            switch step {
            case .create: return rotation.job.dryRun ? try await self.dryRun(rotation, provider) : try await self.create(rotation, provider)
            case .distribute: return try await self.distribute(&rotation, shouldContinue)
            case .verify: return try await self.verify(&rotation, provider, shouldContinue)
            case .grace: return .done(try self.grace(rotation, now: self.clock.now()))
            case .revoke: return try await self.revoke(rotation, provider)
            case .finalize: return try await self.finalize(&rotation)
            case .rollback: return try await self.rollBack(&rotation, provider)
            }
        } catch let error as ManagerUnavailable {
            return .permanent(error.jobError)
        } catch let error as ProviderError {
            if error.isTransient {
                if case .transient(let retryAfter) = error.kind { return .transient(error.description, retryAfter: retryAfter) }
            }
            return .permanent(JobError(code: "provider_rejected", message: "The provider refused: \(error.description).", step: step))
        } catch {
            return .permanent(JobError(code: "internal", message: "Unexpected error in \(step.rawValue): \(type(of: error)).", step: step))
        }
    }

    /// `provider` for the credential's managed user, with its manager's current key, read now:
    /// each attempt reads it again, so a rotation of the manager in between does not matter.
    private func managed(_ provider: any Provider, for credential: Credential, step: JobStep) async throws -> any Provider {
        guard let managerID = credential.managerCredentialID, let subject = credential.subject else {
            throw ManagerUnavailable(JobError(
                code: "manager_missing", message: "The \(credential.provider.rawValue) provider manages keys through a manager credential, and this credential names none.", step: step))
        }
        guard try await self.store.credential(managerID) != nil else {
            throw ManagerUnavailable(JobError(code: "manager_missing", message: "The manager credential \(managerID) no longer exists.", step: step))
        }
        let managerKey = try await self.store.credentialSecrets(managerID).current
        guard let managed = provider.managing(subject: subject, with: managerKey) else {
            throw ManagerUnavailable(JobError(code: "manager_missing", message: "The \(credential.provider.rawValue) provider cannot manage keys for \(subject).", step: step))
        }
        return managed
    }

    // MARK: create

    private func create(_ rotation: Rotation, _ provider: any Provider) async throws -> Outcome {
        // `revoke` deletes the job's old key and a rollback makes it current again, so it must be
        // the key the credential holds now; the store records it so when it inserts the job.
        guard rotation.credential.current.providerKeyID == rotation.job.oldKey.providerKeyID else {
            return .permanent(JobError(
                code: "stale_old_key",
                message: "The job's old key \(rotation.job.oldKey.providerKeyID) is not the credential's current key \(rotation.credential.current.providerKeyID); nothing was created.",
                step: .create))
        }
        let now = self.clock.now()
        let current = rotation.secrets.current
        // Rule 2: a key named for this job that is not recorded is an orphan of an attempt whose
        // answer never reached the store. Delete it before creating again.
        var events: [JobEvent] = []
        for orphan in try await provider.listKeys(using: current) where orphan.name == rotation.job.providerKeyName {
            try await provider.deleteKey(id: orphan.id, using: current)
            events.append(event(now, "key.orphan_deleted", .create, "Deleted key \(orphan.id), left by an earlier attempt."))
        }
        let expiresAt = rotation.credential.keyExpiry.map { $0.adding(to: now) }
        let created = try await provider.createKey(name: rotation.job.providerKeyName, expiresAt: expiresAt, using: current)
        var job = rotation.job
        job.newKey = KeyInfo(
            providerKeyID: created.key.id,
            fingerprint: self.fingerprint(created.secret),
            createdAt: now,
            expiresAt: created.key.expiresAt ?? expiresAt
        )
        try job.completeStep(at: now)
        events.append(event(now, "step.succeeded", .create, "Created key \(created.key.id)."))
        // The plaintext is committed, encrypted, in the same transaction as the key id.
        return .done(RotationCommit(job: job, pendingKey: .set(created.secret), events: events))
    }

    private func dryRun(_ rotation: Rotation, _ provider: any Provider) async throws -> Outcome {
        let current = rotation.secrets.current
        try await provider.verify(key: current)
        let keys = try await provider.listKeys(using: current)
        guard keys.contains(where: { $0.id == rotation.credential.current.providerKeyID }) else {
            return .permanent(JobError(code: "key_not_found", message: "The current key \(rotation.credential.current.providerKeyID) is not in the provider's key list.", step: .create))
        }
        for target in rotation.credential.targets {
            guard let url = target.verifyURL else { continue }
            switch await self.delivery.verify(url: url) {
            case .delivered: continue
            case .transientFailure(let message, let retryAfter): return .transient("verify URL of \(target.id): \(message)", retryAfter: retryAfter)
            case .permanentFailure(let message): return .permanent(JobError(code: "verify_failed", message: "Verify URL of target \(target.id) \(message).", step: .create))
            }
        }
        let now = self.clock.now()
        var job = rotation.job
        try job.completeDryRun(at: now)
        var credential = rotation.credential
        credential.state = .active
        credential.updatedAt = now
        return .done(RotationCommit(job: job, credential: credential, events: [event(now, "job.succeeded", .create, "Dry run passed: the key authenticates, is listed, and every verify URL answers.")]))
    }

    // MARK: distribute and verify

    /// Delivers `key.pending` to every pending target at once, each with its own retries and
    /// backoff (``withRetries(_:job:target:shouldContinue:_:)``). A target that refuses, or that
    /// stays unreachable through all its attempts, fails the step (and so rolls the job back).
    private func distribute(_ rotation: inout Rotation, _ shouldContinue: @escaping @Sendable () async -> Bool) async throws -> Outcome {
        guard let newKey = rotation.job.newKey, let pending = rotation.pendingKey else {
            return .permanent(JobError(code: "internal", message: "The new key is not recorded.", step: .distribute))
        }
        let now = self.clock.now()
        var work: [(index: Int, target: Target, secrets: [Secret], event: TargetEvent)] = []
        for index in rotation.job.targets.indices where rotation.job.targets[index].state == .pending {
            let targetID = rotation.job.targets[index].targetID
            if Self.isAgent(targetID, in: rotation) {
                // Agents fetch the pending key themselves once this step has committed.
                rotation.job.targets[index].state = .delivered
                continue
            }
            guard let endpoint = Self.endpoint(targetID, in: rotation, at: now) else {
                rotation.job.targets[index].state = .delivered
                rotation.job.targets[index].lastError = "target no longer configured; skipped"
                continue
            }
            let event = Self.targetEvent(.keyPending, rotation, targetID, version: rotation.credential.version + 1, providerKeyID: newKey.providerKeyID, secret: pending, at: now)
            work.append((index, endpoint.target, endpoint.signing, event))
        }
        let results = await self.retryingEach(work.map { item in
            (item.index, item.target.id, { await self.delivery.deliver(item.event, to: item.target, signingSecrets: item.secrets) })
        }, eventType: TargetEvent.Kind.keyPending.rawValue, job: rotation.job.id, shouldContinue: shouldContinue)
        var failure: JobError?
        var transient: (String, Duration?)?
        for (index, result) in results {
            let targetID = rotation.job.targets[index].targetID
            rotation.job.targets[index].attempts += result.attempts
            switch result.outcome {
            case .delivered:
                rotation.job.targets[index].state = .delivered
                rotation.job.targets[index].lastError = nil
            case .permanentFailure(let message):
                rotation.job.targets[index].state = .failed
                rotation.job.targets[index].lastError = message
                failure = failure ?? JobError(code: "target_failed", message: "Target \(targetID) refused the new key: \(message).", step: .distribute)
            case .transientFailure(let message, let retryAfter):
                rotation.job.targets[index].lastError = message
                if result.exhausted {
                    rotation.job.targets[index].state = .failed
                    failure = failure ?? JobError(
                        code: "retries_exhausted",
                        message: "Target \(targetID) did not take the new key in \(result.attempts) attempts: \(message).",
                        step: .distribute
                    )
                } else {
                    transient = ("target \(targetID) \(message)", retryAfter)
                }
            }
        }
        if let failure { return .permanent(failure) }
        if let (message, retryAfter) = transient { return .transient(message, retryAfter: retryAfter) }
        let finished = self.clock.now()
        var job = rotation.job
        try job.completeStep(at: finished)
        return .done(RotationCommit(job: job, events: [event(finished, "step.succeeded", .distribute, "Delivered key.pending to \(job.targets.count) target(s).")]))
    }

    /// Checks the new key at the provider, then every delivered target's `verify_url` at once,
    /// each with its own retries and backoff.
    private func verify(_ rotation: inout Rotation, _ provider: any Provider, _ shouldContinue: @escaping @Sendable () async -> Bool) async throws -> Outcome {
        guard let pending = rotation.pendingKey else {
            return .permanent(JobError(code: "internal", message: "The new key is not recorded.", step: .verify))
        }
        // A verify woken by an agent's acknowledgement has checked the key already.
        if !rotation.job.targets.contains(where: { $0.verifyDeadline != nil }) {
            try await provider.verify(key: pending)
        }
        var work: [(index: Int, targetID: TargetID, url: String)] = []
        var agents: [Int] = []
        for index in rotation.job.targets.indices where rotation.job.targets[index].state == .delivered {
            let targetID = rotation.job.targets[index].targetID
            if Self.isAgent(targetID, in: rotation) {
                agents.append(index)
                continue
            }
            guard let url = rotation.credential.targets.first(where: { $0.id == targetID })?.verifyURL else {
                rotation.job.targets[index].state = .verified
                continue
            }
            work.append((index, targetID, url))
        }
        let results = await self.retryingEach(work.map { item in
            (item.index, item.targetID, { await self.delivery.check(url: item.url) })
        }, eventType: "verify", job: rotation.job.id, shouldContinue: shouldContinue)
        var failure: JobError?
        var transient: (String, Duration?)?
        for (index, result) in results {
            let targetID = rotation.job.targets[index].targetID
            switch result.outcome {
            case .delivered:
                rotation.job.targets[index].state = .verified
                rotation.job.targets[index].lastError = nil
            case .permanentFailure(let message):
                // It stays `delivered`: it holds the new key, so the rollback must tell it.
                rotation.job.targets[index].lastError = "verify: \(message)"
                failure = failure ?? JobError(code: "verify_failed", message: "Target \(targetID) does not confirm the new key: its verify URL \(message).", step: .verify)
            case .transientFailure(let message, let retryAfter):
                rotation.job.targets[index].lastError = "verify: \(message)"
                if result.exhausted {
                    failure = failure ?? JobError(
                        code: "retries_exhausted",
                        message: "Target \(targetID) did not confirm the new key in \(result.attempts) attempts: its verify URL \(message).",
                        step: .verify
                    )
                } else {
                    transient = ("verify URL of \(targetID) \(message)", retryAfter)
                }
            }
        }
        if let failure { return .permanent(failure) }
        if let (message, retryAfter) = transient { return .transient(message, retryAfter: retryAfter) }
        var events: [JobEvent] = []
        if let outcome = try await self.verifyAgents(agents, &rotation, events: &events) { return outcome }
        let now = self.clock.now()
        var job = rotation.job
        try job.completeStep(at: now)
        events.append(event(now, "step.succeeded", .verify, "The new key authenticates and every target confirms it."))
        return .done(RotationCommit(job: job, events: events))
    }

    // MARK: grace

    /// Makes the new key current (once), then waits out the grace period; the end is stored so a
    /// restart does not start it again.
    func grace(_ rotation: Rotation, now: Date) throws -> RotationCommit {
        var job = rotation.job
        if let ends = job.graceEndsAt {
            if ends <= now {
                try job.completeStep(at: now)
                return RotationCommit(job: job, events: [event(now, "step.succeeded", .grace, "Grace period over.")])
            }
            try job.wait(until: ends, at: now)
            return RotationCommit(job: job)
        }
        guard let newKey = job.newKey, let pending = rotation.pendingKey else {
            throw EngineInvariantError(description: "job \(job.id) reached grace without a recorded new key")
        }
        var credential = rotation.credential
        credential.previous = credential.current
        credential.current = newKey
        credential.version += 1
        credential.updatedAt = now
        let ends = job.gracePeriod.adding(to: now)
        job.graceEndsAt = ends
        var events = [event(now, "key.current", .grace, "Key \(newKey.providerKeyID) is current (version \(credential.version)); the old key still works until revoke.")]
        if ends <= now {
            try job.completeStep(at: now)
            events.append(event(now, "step.succeeded", .grace, "No grace period."))
        } else {
            try job.wait(until: ends, at: now)
        }
        return RotationCommit(
            job: job,
            credential: credential,
            currentKey: .set(pending),
            previousKey: .set(rotation.secrets.current),
            events: events
        )
    }

    // MARK: revoke and finalize

    private func revoke(_ rotation: Rotation, _ provider: any Provider) async throws -> Outcome {
        let oldID = rotation.job.oldKey.providerKeyID
        do {
            // Authenticating with the NEW key: it is current now, and proves itself once more.
            try await provider.deleteKey(id: oldID, using: rotation.secrets.current)
        } catch {
            guard !error.isTransient else { throw error }
            return .permanent(JobError(
                code: "revoke_failed",
                message: "Could not delete the old key \(oldID) (\(error.description)). The new key is current and works; delete the old key at the provider by hand, then set the credential active.",
                step: .revoke
            ))
        }
        let now = self.clock.now()
        var job = rotation.job
        try job.completeStep(at: now)
        return .done(RotationCommit(job: job, events: [event(now, "step.succeeded", .revoke, "Deleted the old key \(oldID).")]))
    }

    private func finalize(_ rotation: inout Rotation) async throws -> Outcome {
        let now = self.clock.now()
        // Best effort: the old key is gone whatever the targets answer.
        for index in rotation.job.targets.indices where rotation.job.targets[index].state == .verified {
            let targetID = rotation.job.targets[index].targetID
            guard let endpoint = Self.endpoint(targetID, in: rotation, at: now) else { continue }
            let event = Self.targetEvent(.keyRevoked, rotation, targetID, version: rotation.credential.version, providerKeyID: rotation.job.oldKey.providerKeyID, at: now)
            let outcome = await self.deliverOnce(event, to: endpoint.target, signingSecrets: endpoint.signing, job: rotation.job.id)
            if !outcome.isDelivered { rotation.job.targets[index].lastError = "key.revoked not delivered" }
        }
        var credential = rotation.credential
        credential.previous = nil
        credential.state = .active
        credential.lastRotatedAt = now
        credential.updatedAt = now
        var job = rotation.job
        try job.completeStep(at: now)
        return .done(RotationCommit(
            job: job,
            credential: credential,
            previousKey: .clear,
            pendingKey: .clear,
            events: [event(now, "job.succeeded", .finalize, "Rotation complete: version \(credential.version) is current, the old key is revoked.")]
        ))
    }

    // MARK: rollback

    private func rollBack(_ rotation: inout Rotation, _ provider: any Provider) async throws -> Outcome {
        let now = self.clock.now()
        var credential = rotation.credential
        var currentKey = SecretChange.unchanged
        var previousKey = SecretChange.unchanged
        var events: [JobEvent] = []
        // The key that authenticates now: the old one, wherever grace left it.
        var oldSecret = rotation.secrets.current
        if let newKey = rotation.job.newKey, credential.current.providerKeyID == newKey.providerKeyID, let previous = rotation.secrets.previous {
            oldSecret = previous
            credential.current = rotation.job.oldKey
            credential.previous = nil
            credential.version += 1
            currentKey = .set(previous)
            previousKey = .clear
            events.append(event(now, "key.current", .rollback, "The old key \(rotation.job.oldKey.providerKeyID) is current again (version \(credential.version))."))
        }
        if !rotation.job.dryRun {
            if let newKey = rotation.job.newKey {
                try await provider.deleteKey(id: newKey.providerKeyID, using: oldSecret)
                events.append(event(now, "key.deleted", .rollback, "Deleted the new key \(newKey.providerKeyID)."))
            }
            for orphan in try await provider.listKeys(using: oldSecret) where orphan.name == rotation.job.providerKeyName {
                try await provider.deleteKey(id: orphan.id, using: oldSecret)
                events.append(event(now, "key.orphan_deleted", .rollback, "Deleted key \(orphan.id), left by an earlier attempt."))
            }
        }
        for index in rotation.job.targets.indices where [.delivered, .verified].contains(rotation.job.targets[index].state) {
            let targetID = rotation.job.targets[index].targetID
            if Self.isAgent(targetID, in: rotation) {
                // Agents see the pending key gone and the current one unchanged on their next fetch.
                rotation.job.targets[index].state = .rolledBack
                continue
            }
            guard let endpoint = Self.endpoint(targetID, in: rotation, at: now), let newKey = rotation.job.newKey else { continue }
            let event = Self.targetEvent(.keyRolledBack, rotation, targetID, version: credential.version, providerKeyID: newKey.providerKeyID, at: now)
            let outcome = await self.deliverOnce(event, to: endpoint.target, signingSecrets: endpoint.signing, job: rotation.job.id)
            if outcome.isDelivered {
                rotation.job.targets[index].state = .rolledBack
            } else {
                rotation.job.targets[index].lastError = "key.rolled_back not delivered"
            }
        }
        credential.state = .active
        credential.updatedAt = now
        var job = rotation.job
        try job.completeStep(at: now)
        events.append(event(now, job.state == .cancelled ? "job.cancelled" : "job.rolled_back", .rollback, "Rolled back: the credential is unchanged and its old key works."))
        return .done(RotationCommit(job: job, credential: credential, currentKey: currentKey, previousKey: previousKey, pendingKey: .clear, events: events))
    }
}

extension JobRunner {
    /// Whether the credential's target `targetID` is an agent target (nothing is delivered to it).
    static func isAgent(_ targetID: TargetID, in rotation: Rotation) -> Bool {
        rotation.credential.targets.first(where: { $0.id == targetID })?.type == .agent
    }

    /// A target of the credential with the secrets to sign for it: its signing secret, and while
    /// a roll's overlap lasts, the previous one too. Nil if the target was removed meanwhile.
    static func endpoint(_ targetID: TargetID, in rotation: Rotation, at now: Date) -> (target: Target, signing: [Secret])? {
        guard let target = rotation.credential.targets.first(where: { $0.id == targetID }),
            let signing = rotation.secrets.signingSecrets[targetID]
        else { return nil }
        if let overlapEnds = target.previousSecretExpiresAt, overlapEnds > now, let previous = rotation.secrets.previousSigningSecrets[targetID] {
            return (target, [signing, previous])
        }
        return (target, [signing])
    }

    /// The event for one target. Its id is stable per job, target and kind, so a redelivery after
    /// a retry or restart carries the same `webhook-id` and receivers can deduplicate.
    static func targetEvent(
        _ kind: TargetEvent.Kind,
        _ rotation: Rotation,
        _ targetID: TargetID,
        version: Int,
        providerKeyID: String,
        secret: Secret? = nil,
        at now: Date
    ) -> TargetEvent {
        TargetEvent(
            id: "\(rotation.job.id.rawValue).\(targetID.rawValue).\(kind.rawValue)",
            kind: kind,
            timestamp: now,
            credentialID: rotation.credential.id,
            credentialName: rotation.credential.name,
            jobID: rotation.job.id,
            version: version,
            providerKeyID: providerKeyID,
            secret: secret
        )
    }
}

/// A state the step machine should make impossible; the job stops and the error is logged.
struct EngineInvariantError: Error, CustomStringConvertible {
    var description: String
}

/// A managed credential's manager could not be used: the step ends permanently.
private struct ManagerUnavailable: Error {
    let jobError: JobError
    init(_ jobError: JobError) { self.jobError = jobError }
}
