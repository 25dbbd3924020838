import Logging
import PostgresNIO
public import RotorCore
import Synchronization

extension PostgresStore: JobNotifications {
    public func observeJobs(_ observer: @escaping @Sendable () -> Void) {
        self.jobObservers.withLock { $0.append(observer) }
    }

    public func observeFinishedJobs(_ observer: @escaping @Sendable (JobID?) -> Void) {
        self.finishedJobObservers.withLock { $0.append(observer) }
    }

    /// A notification's payload: the schema it concerns (channels are per database, and several
    /// deployments or test runs may share one) and the instance that sent it.
    static func payload(schema: String, instance: String) -> String { schema + "|" + instance }

    /// Holds one pooled connection that `LISTEN`s on the jobs and outbox channels, calling the
    /// observers on every notification about this store's schema; reconnects after a second when
    /// the connection drops, and then calls every observer once, since whatever was sent while
    /// nobody listened is lost. Returns once the first `LISTEN` is in place (or failed), so that
    /// a store that has connected also hears every later change.
    func startListening(schema: String) async {
        // Finished once the first LISTEN is in place or has failed; finishing again does nothing.
        let (ready, signal) = AsyncStream<Void>.makeStream()
        let task = Task { [client = self.client, logger = self.logger] in
            var connectedBefore = false
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.jobsChannel) { jobs in
                            try await connection.listen(on: Self.outboxChannel) { outbox in
                                try await connection.listen(on: Self.finishedJobsChannel) { finished in
                                    try await connection.listen(on: Self.servedKeysChannel) { keys in
                                        signal.finish()
                                        if connectedBefore {
                                            self.notifyJobObservers()
                                            self.notifyOutboxObservers()
                                            self.notifyFinishedJobObservers(nil)
                                            self.notifyServedKeyObservers(nil)
                                        }
                                        connectedBefore = true
                                        try await self.relay(jobs: jobs, outbox: outbox, finished: finished, keys: keys, schema: schema)
                                    }
                                }
                            }
                        }
                    }
                } catch {
                    signal.finish()
                    if Task.isCancelled { return }
                    logger.warning("listening for other instances' changes failed; retrying", metadata: ["error": "\(Self.describe(error))"])
                }
                try? await Task.sleep(for: .seconds(1))
            }
            signal.finish()
        }
        self.track(task)
        for await _ in ready {}
    }

    /// Calls the observers for each notification until the connection ends.
    private func relay(
        jobs: PostgresNotificationSequence, outbox: PostgresNotificationSequence, finished: PostgresNotificationSequence,
        keys: PostgresNotificationSequence, schema: String
    ) async throws {
        let prefix = schema + "|"
        let own = Self.payload(schema: schema, instance: self.instanceToken)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await notification in jobs where notification.payload.hasPrefix(prefix) {
                    self.notifyJobObservers()
                }
            }
            group.addTask {
                // This instance's own outbox rows woke its dispatcher when they committed.
                for try await notification in outbox where notification.payload.hasPrefix(prefix) && notification.payload != own {
                    self.notifyOutboxObservers()
                }
            }
            group.addTask {
                // This instance's own finished jobs were reported when they committed.
                for try await id in Self.othersIDs(finished, own: own, prefix: prefix) { self.notifyFinishedJobObservers(JobID(id)) }
            }
            group.addTask {
                for try await id in Self.othersIDs(keys, own: own, prefix: prefix) { self.notifyServedKeyObservers(CredentialID(id)) }
            }
            _ = try await group.next()
            group.cancelAll()
        }
    }

    /// The ids (`schema|instance|id`) other instances sent about this store's schema.
    private static func othersIDs(
        _ notifications: PostgresNotificationSequence, own: String, prefix: String
    ) -> some AsyncSequence<String, any Error> {
        notifications.filter { $0.payload.hasPrefix(prefix) && !$0.payload.hasPrefix(own + "|") }
            .map { $0.payload.split(separator: "|").last.map(String.init) ?? "" }
    }

    public func observeServedKeys(_ observer: @escaping @Sendable (CredentialID?) -> Void) {
        self.servedKeyObservers.withLock { $0.append(observer) }
    }

    func notifyServedKeyObservers(_ id: CredentialID?) {
        for observer in self.servedKeyObservers.withLock({ $0 }) { observer(id) }
    }

    private func notifyJobObservers() {
        for observer in self.jobObservers.withLock({ $0 }) { observer() }
    }

    func notifyFinishedJobObservers(_ id: JobID?) {
        for observer in self.finishedJobObservers.withLock({ $0 }) { observer(id) }
    }

    private func notifyOutboxObservers() {
        for observer in self.outboxObservers.withLock({ $0 }) { observer() }
    }
}
