public import Foundation
public import Logging
public import RotorCore
public import ServiceLifecycle

/// Signs a checkpoint of the audit log's newest entry once at start and then every `interval`
/// (`ROTOR_AUDIT_CHECKPOINT_INTERVAL`), and publishes it: stored, written to the log as one info
/// line, and sent as `audit.checkpoint` to subscriptions that want it. A checkpoint kept off the
/// box later proves with `rotor audit verify --checkpoint` that nothing at or before it was removed.
///
/// A head that already has a checkpoint is not signed again, so an idle log adds nothing, and
/// instances sharing one PostgreSQL database publish each head once between them.
public actor AuditCheckpointService: Service {
    private let store: any AuditStore
    private let clock: any RotorClock
    private let interval: TimeInterval
    private let logger: Logger

    /// Creates the service.
    public init(store: any AuditStore, clock: any RotorClock = SystemClock(), interval: TimeInterval = 3600, logger: Logger) {
        self.store = store
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    /// Publishes now, then after every interval on the clock, until graceful shutdown or cancellation.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.publish()
                try await self.clock.sleep(until: self.clock.now().addingTimeInterval(self.interval))
            }
        }
    }

    /// Signs and publishes a checkpoint of the newest entry, unless it has one; returns what was published.
    @discardableResult
    public func publish() async -> AuditCheckpoint? {
        do {
            guard let checkpoint = try await self.store.publishAuditCheckpoint(at: self.clock.now()) else { return nil }
            // Nothing here is secret: the MAC proves the checkpoint, it does not reveal the key.
            self.logger.info(
                "audit checkpoint signed",
                metadata: [
                    // An object under one key: a JSON log line's `metadata.checkpoint` is what
                    // `rotor audit verify --checkpoint` reads.
                    "checkpoint": .dictionary([
                        "seq": "\(checkpoint.seq)", "hash": "\(checkpoint.hash)", "signed_at": "\(checkpoint.signedAt)",
                        "key_id": "\(checkpoint.keyID)", "mac": "\(checkpoint.mac)",
                    ])
                ])
            return checkpoint
        } catch {
            self.logger.error("signing an audit checkpoint failed", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
