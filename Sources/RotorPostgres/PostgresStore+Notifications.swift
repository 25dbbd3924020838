import Logging
import PostgresNIO
import Synchronization
public import RotorCore

extension PostgresStore: JobNotifications {
    public func observeJobs(_ observer: @escaping @Sendable () -> Void) {
        self.jobObservers.withLock { $0.append(observer) }
    }

    /// Holds one pooled connection that `LISTEN`s on the jobs and outbox channels, calling the
    /// observers on every notification; reconnects after a second when the connection drops.
    /// Every (re)connection calls all observers once: whatever was sent while nobody listened is
    /// lost, and the observers' polls pick it up.
    func startListening() {
        let task = Task { [client = self.client, logger = self.logger] in
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.jobsChannel) { jobs in
                            try await connection.listen(on: Self.outboxChannel) { outbox in
                                self.notifyJobObservers()
                                self.notifyOutboxObservers()
                                try await withThrowingTaskGroup(of: Void.self) { group in
                                    group.addTask {
                                        for try await _ in jobs { self.notifyJobObservers() }
                                    }
                                    group.addTask {
                                        // This instance's own changes woke its dispatcher at commit.
                                        for try await notification in outbox where notification.payload != self.instanceToken {
                                            self.notifyOutboxObservers()
                                        }
                                    }
                                    _ = try await group.next()
                                    group.cancelAll()
                                }
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("listening for other instances' changes failed; retrying", metadata: ["error": "\(Self.describe(error))"])
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        self.track(task)
    }

    private func notifyJobObservers() {
        for observer in self.jobObservers.withLock({ $0 }) { observer() }
    }

    private func notifyOutboxObservers() {
        for observer in self.outboxObservers.withLock({ $0 }) { observer() }
    }
}
