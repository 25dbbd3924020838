import Foundation
import Logging

/// Puts keys in place, one at a time across all credentials (they share the reload and check
/// commands and the state file): writes the key file and the template, runs the reload and the
/// check, and records the result in the state file.
actor AgentApplier {
    /// What the caller does next.
    struct Outcome: Sendable {
        /// What to acknowledge, if anything: whether the key was applied, and if not why.
        var acknowledgement: (applied: Bool, message: String?)?
        /// The key is not in place (it could not be written): try again later.
        var retry = false
        /// The agent is stopping: acknowledge nothing (a killed check says nothing of the key).
        var cancelled = false
    }

    private let configuration: AgentConfiguration
    private let logger: Logger
    private var state: AgentState
    /// The last key fetched per credential name, for templates.
    private var keys: [String: String] = [:]
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(configuration: AgentConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var state = AgentState()
        if let path = configuration.stateFile {
            do {
                state = try AgentState.load(path)
            } catch {
                logger.warning("state file unreadable; starting without it", metadata: ["reason": "\(error)"])
            }
        }
        self.state = state
    }

    /// Makes keys known for templates before any is applied, so the first render has them all.
    func learn(_ keys: [(AgentConfiguration.Credential, AgentKey)]) {
        for (credential, key) in keys { self.keys[credential.name] = key.secret }
    }

    /// Applies `key` of `credential`. `previous` is what was served before (nil at start-up);
    /// at start-up the check runs even when the key was already in place, so that the instance
    /// reports itself live with it.
    func apply(_ credential: AgentConfiguration.Credential, _ key: AgentKey, previous: (version: Int, status: String)?) async -> Outcome {
        await self.acquire()
        defer { self.release() }
        var logger = self.logger
        logger[metadataKey: "credential"] = "\(credential.id)"
        logger[metadataKey: "version"] = "\(key.version)"
        logger[metadataKey: "status"] = "\(key.status)"
        self.keys[credential.name] = key.secret

        if let previous, previous.version == key.version {
            if previous.status == "pending", key.status == "current" {
                logger.info("rotation finished: the key applied is now current and the old one is revoked")
            } else {
                logger.info("key status changed", metadata: ["from": "\(previous.status)"])
            }
            self.record(credential, key, outcome: self.state.entries[credential.id]?.outcome)
            return Outcome()
        }

        var wrote = false
        if let sink = credential.file {
            if AtomicFile.read(sink.path) == Array(key.secret.utf8) {
                logger.info("key already in place", metadata: ["file": "\(sink.path)"])
            } else {
                do {
                    try AtomicFile.write(key.secret.utf8, to: sink.path, mode: sink.mode, owner: sink.owner)
                    wrote = true
                    logger.info("key written", metadata: ["file": "\(sink.path)", "fingerprint": "\(key.fingerprint)"])
                } catch {
                    logger.error("cannot write the key file; the previous key stays", metadata: ["reason": "\(error)"])
                    return Outcome(acknowledgement: (false, "cannot write the key file: \(error)".prefix(500).description), retry: true)
                }
            }
        }
        if let template = self.configuration.template, template.template.names.contains(credential.name) {
            do {
                wrote = try self.render(template, logger: logger) || wrote
            } catch {
                logger.error("cannot write the template output; the previous one stays", metadata: ["reason": "\(error)"])
                return Outcome(acknowledgement: (false, "cannot render the template: \(error)".prefix(500).description), retry: true)
            }
        }

        let environment = [
            "ROTOR_KEY_FILE": credential.file?.path ?? self.configuration.template?.output.path ?? "",
            "ROTOR_KEY_VERSION": "\(key.version)",
            "ROTOR_KEY_STATUS": key.status,
            "ROTOR_CREDENTIAL_ID": credential.id,
        ]
        var applied = true
        var message: String?
        if wrote, let reload = self.configuration.reload {
            (applied, message) = await self.run("reload", reload, environment, logger: logger)
        }
        if applied, let check = self.configuration.check {
            (applied, message) = await self.run("check", check, environment, logger: logger)
        }
        if Task.isCancelled { return Outcome(cancelled: true) }
        if applied, self.configuration.check == nil { logger.info("key applied (no check configured)") }
        self.record(credential, key, outcome: applied ? "applied" : "failed")
        return Outcome(acknowledgement: (applied, message))
    }

    /// Renders the template with every key it names, if all are known; whether it wrote.
    private func render(_ template: AgentConfiguration.Template, logger: Logger) throws -> Bool {
        guard template.template.names.isSubset(of: self.keys.keys) else { return false }
        let text = try template.template.render(self.keys)
        guard AtomicFile.read(template.output.path) != Array(text.utf8) else { return false }
        try AtomicFile.write(text.utf8, to: template.output.path, mode: template.output.mode, owner: template.output.owner)
        logger.info("template rendered", metadata: ["file": "\(template.output.path)"])
        return true
    }

    private func run(_ what: String, _ command: String, _ environment: [String: String], logger: Logger) async -> (Bool, String?) {
        do {
            let result = try await CommandRunner.run(
                command, environment: environment, timeout: self.configuration.commandTimeout, redacting: Array(self.keys.values))
            let summary = result.summary(what, timeout: self.configuration.commandTimeout)
            if result.succeeded {
                logger.info("\(what) passed")
                return (true, nil)
            }
            logger.warning("\(what) failed", metadata: ["reason": "\(summary)"])
            return (false, summary)
        } catch {
            logger.error("\(what) did not start", metadata: ["reason": "\(error)"])
            return (false, "\(what) did not start: \(error)")
        }
    }

    private func record(_ credential: AgentConfiguration.Credential, _ key: AgentKey, outcome: String?) {
        self.state.entries[credential.id] = .init(version: key.version, status: key.status, fingerprint: key.fingerprint, appliedAt: Date(), outcome: outcome)
        guard let path = self.configuration.stateFile else { return }
        do {
            try self.state.save(path)
        } catch {
            self.logger.warning("cannot write the state file", metadata: ["reason": "\(error)"])
        }
    }

    private func acquire() async {
        guard self.busy else {
            self.busy = true
            return
        }
        await withCheckedContinuation { self.waiters.append($0) }
    }

    private func release() {
        if self.waiters.isEmpty { self.busy = false } else { self.waiters.removeFirst().resume() }
    }
}
