package import RotorCore

/// What a commit is compared with to know which events it reports: the states it is about to
/// change, read in its transaction before its writes.
package struct OutboxBaseline: Sendable {
    package var jobState: JobState?
    package var credentialState: CredentialState?
    /// Whether any subscription exists: without one there is nothing to write at all.
    package var subscribed: Bool

    package init(jobState: JobState?, credentialState: CredentialState?, subscribed: Bool = true) {
        self.jobState = jobState
        self.credentialState = credentialState
        self.subscribed = subscribed
    }

    /// The events that the change to `job` and its `credential` since this baseline reports.
    package func events(reporting job: Job, credential: Credential) -> [OutboxEvent] {
        guard self.subscribed, let credentialBefore = self.credentialState else { return [] }
        return OutboxEvent.reporting(
            jobStateBefore: self.jobState, job: job, credentialStateBefore: credentialBefore, credential: credential, at: job.updatedAt)
    }
}

/// Which subscriptions each event goes to, from the `id` and `events` columns of every
/// subscription: an event nobody wants is not stored at all.
package func outboxRecipients(_ events: [OutboxEvent], subscriptions: [some StoredRow]) throws -> [(event: OutboxEvent, recipients: [String])] {
    guard !events.isEmpty else { return [] }
    let wanted = try subscriptions.map { row in
        (id: try row.string("id"), events: Set(try RowCoding.decodeJSON([EventType].self, row, "events")))
    }
    return events.compactMap { event in
        let recipients = wanted.filter { $0.events.contains(event.type) }.map(\.id)
        return recipients.isEmpty ? nil : (event, recipients)
    }
}
