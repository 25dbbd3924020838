import Foundation
public import Logging
public import ServiceLifecycle

/// `rotor agent`: fetches each configured credential's key (long-polling for changes), puts it in
/// place through ``AgentApplier`` and acknowledges the outcome to Rotor. When Rotor cannot be
/// reached, or refuses, the key in place stays and the agent retries with backoff.
public struct AgentRunner: Service {
    private let configuration: AgentConfiguration
    private let client: RotorAgentClient
    private let applier: AgentApplier
    private let logger: Logger

    public init(configuration: AgentConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.client = try RotorAgentClient(url: configuration.url, token: configuration.token, caFile: configuration.caFile)
        self.applier = AgentApplier(configuration: configuration, logger: logger)
        var logger = logger
        logger[metadataKey: "instance"] = "\(configuration.instance)"
        self.logger = logger
    }

    /// Closes the HTTP client; after ``run()`` or ``runOnce()`` returned.
    public func shutdown() async { await self.client.shutdown() }

    /// Until graceful shutdown (or cancellation).
    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await self.serve()
            }
        } catch is CancellationError {
            // stopping
        }
        self.logger.info("agent stopped")
    }

    /// `--once`: fetch, apply, check and acknowledge every credential; whether all succeeded.
    public func runOnce() async -> Bool {
        do {
            var fetched: [(AgentConfiguration.Credential, AgentKey)] = []
            for credential in self.configuration.credentials {
                guard let key = try await self.firstKey(credential, once: true) else { return false }
                fetched.append((credential, key))
            }
            await self.applier.learn(fetched)
            var succeeded = true
            for (credential, key) in fetched {
                let outcome = await self.applier.apply(credential, key, previous: nil)
                guard let acknowledgement = outcome.acknowledgement else { return false }
                let acknowledged = await self.acknowledge(credential, key.version, applied: acknowledgement.applied, message: acknowledgement.message)
                succeeded = succeeded && acknowledgement.applied && acknowledged
            }
            return succeeded
        } catch {
            return false
        }
    }

    private func serve() async throws {
        self.logger.info(
            "agent starting",
            metadata: ["url": "\(self.configuration.url.absoluteString)", "credentials": "\(self.configuration.credentials.map(\.id).joined(separator: ","))"])
        let fetched = try await withThrowingTaskGroup(of: (Int, AgentKey).self) { group in
            for (index, credential) in self.configuration.credentials.enumerated() {
                group.addTask {
                    guard let key = try await self.firstKey(credential, once: false) else { throw CancellationError() }
                    return (index, key)
                }
            }
            var keys: [Int: AgentKey] = [:]
            for try await (index, key) in group { keys[index] = key }
            return self.configuration.credentials.indices.map { (self.configuration.credentials[$0], keys[$0]!) }
        }
        await self.applier.learn(fetched)
        var followed: [(AgentConfiguration.Credential, (version: Int, status: String))] = []
        for (credential, key) in fetched {
            let outcome = await self.applier.apply(credential, key, previous: nil)
            if outcome.cancelled { return }
            if let acknowledgement = outcome.acknowledgement {
                await self.acknowledge(credential, key.version, applied: acknowledgement.applied, message: acknowledgement.message)
            }
            // A key that could not be written is fetched again as if it were new.
            followed.append((credential, outcome.retry ? (0, "") : (key.version, key.status)))
        }
        try await withThrowingDiscardingTaskGroup { group in
            for (credential, known) in followed {
                group.addTask { try await self.follow(credential, known: known) }
            }
        }
    }

    /// The first fetch: at once, retried with backoff until it succeeds. With `once`, a refusal
    /// or six failures in a row give up (nil). It does not name the instance: an instance is
    /// live only once it has put the key in place, checked it and acknowledged the outcome.
    private func firstKey(_ credential: AgentConfiguration.Credential, once: Bool) async throws -> AgentKey? {
        var backoff = Backoff()
        while true {
            do throws(AgentClientError) {
                if let key = try await self.client.key(credential: credential.id, instance: nil, known: nil, wait: .zero)
                {
                    return key
                }
                throw AgentClientError.transport("the key route answered no key")
            } catch {
                try Task.checkCancellation()  // stopping, not a failure of Rotor's
                if once, error.isRefusal || backoff.attempt >= 5 {
                    self.logFetchFailure(error, credential, retryIn: nil)
                    return nil
                }
                let delay = backoff.next()
                self.logFetchFailure(error, credential, retryIn: delay)
                try await Task.sleep(for: delay)
            }
        }
    }

    /// Long-polls for a change of the served (version, status) and applies it, until cancelled.
    private func follow(_ credential: AgentConfiguration.Credential, known start: (version: Int, status: String)) async throws {
        var known = start
        var backoff = Backoff()
        var logger = self.logger
        logger[metadataKey: "credential"] = "\(credential.id)"
        // An acknowledgement Rotor has not taken yet (it was unreachable or overloaded): sent
        // again after every fetch until it is, while its version is still the one served.
        var unsent: (version: Int, applied: Bool, message: String?)?
        while true {
            let asked = ContinuousClock.now
            let answer: AgentKey?
            do {
                answer = try await self.client.key(
                    credential: credential.id, instance: (self.configuration.instance, credential.group), known: known, wait: self.configuration.wait)
                backoff.reset()
            } catch {
                try Task.checkCancellation()
                let delay = backoff.next()
                self.logFetchFailure(error, credential, retryIn: delay)
                try await Task.sleep(for: delay)
                continue
            }
            if let ack = unsent, ack.version == (answer?.version ?? known.version) {
                if await self.deliver(credential, ack.version, applied: ack.applied, message: ack.message) != .undelivered { unsent = nil }
            } else {
                unsent = nil
            }
            guard let key = answer, key.version != known.version || key.status != known.status else {
                // Unchanged: the wait ended. If it ended at once (a Rotor that does not hold
                // the request), wait before asking again: never busy-loop.
                if ContinuousClock.now - asked < .seconds(1) { try await Task.sleep(for: self.configuration.pollInterval) }
                continue
            }
            logger.info("new key served", metadata: ["version": "\(key.version)", "status": "\(key.status)", "previous_version": "\(known.version)"])
            let outcome = await self.applier.apply(credential, key, previous: known.version == 0 ? nil : known)
            if outcome.cancelled { return }
            if let acknowledgement = outcome.acknowledgement {
                let delivery = await self.deliver(credential, key.version, applied: acknowledgement.applied, message: acknowledgement.message)
                unsent = delivery == .undelivered ? (key.version, acknowledgement.applied, acknowledgement.message) : nil
            }
            if outcome.retry {
                try await Task.sleep(for: backoff.next())
            } else {
                known = (key.version, key.status)
            }
        }
    }

    /// What became of an acknowledgement.
    private enum Delivery {
        /// Rotor has it (a replay counts: it already had it).
        case delivered
        /// Rotor refused it (a 4xx other than 429): sending it again would not help.
        case refused
        /// Rotor could not be reached, or was overloaded, each of a few tries.
        case undelivered
    }

    /// Posts an acknowledgement, retrying a few times while Rotor is unreachable or failing;
    /// whether Rotor has it (a replay counts: it already had it).
    @discardableResult
    private func acknowledge(_ credential: AgentConfiguration.Credential, _ version: Int, applied: Bool, message: String?) async -> Bool {
        await self.deliver(credential, version, applied: applied, message: message) == .delivered
    }

    private func deliver(_ credential: AgentConfiguration.Credential, _ version: Int, applied: Bool, message: String?) async -> Delivery {
        var logger = self.logger
        logger[metadataKey: "credential"] = "\(credential.id)"
        logger[metadataKey: "version"] = "\(version)"
        logger[metadataKey: "outcome"] = "\(applied ? "applied" : "failed")"
        var backoff = Backoff()
        for _ in 0..<5 {
            do {
                let result = try await self.client.acknowledge(
                    credential: credential.id, instance: self.configuration.instance, group: credential.group, version: version, applied: applied,
                    message: message)
                logger.info(result == .recorded ? "acknowledged" : "already acknowledged")
                return .delivered
            } catch {
                if Task.isCancelled { return .undelivered }
                if case .http(let status, _, _) = error, status < 500, status != 429 {
                    logger.warning("Rotor refused the acknowledgement", metadata: ["reason": "\(error)"])
                    return .refused
                }
                let delay = backoff.next()
                logger.warning("cannot acknowledge; retrying", metadata: ["reason": "\(error)", "retry_in": "\(AgentDuration.text(delay))"])
                do { try await Task.sleep(for: delay) } catch { return .undelivered }
            }
        }
        return .undelivered
    }

    private func logFetchFailure(_ error: AgentClientError, _ credential: AgentConfiguration.Credential, retryIn delay: Duration?) {
        var metadata: Logger.Metadata = ["credential": "\(credential.id)", "reason": "\(error)"]
        if let delay { metadata["retry_in"] = "\(AgentDuration.text(delay))" }
        if error.isRefusal {
            self.logger.error(
                "Rotor refused the key: check the token (scope agent, bound to this credential), the credential id and the group; the key in place stays",
                metadata: metadata)
        } else {
            self.logger.warning("cannot fetch the key; the key in place stays", metadata: metadata)
        }
    }
}
