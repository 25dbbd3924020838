/// Wake-ups from a store shared by several instances (DESIGN.md §2 rule 3): a store that can tell
/// when any instance made a job runnable conforms, and `rotor` wires it to the engine's `wake()`.
/// Kept apart from ``Store`` so that stores grow by concern; polling remains the fallback, so a
/// lost notification only delays a job until the next poll.
public protocol JobNotifications: Sendable {
    /// Calls `observer` whenever a job may have become runnable anywhere: created, cancelled,
    /// scheduled, or its lease released. (A job waiting out a backoff becomes runnable by the
    /// clock, which polling covers.) Also called once whenever the notification channel
    /// reconnects, since anything sent while it was down was lost.
    func observeJobs(_ observer: @escaping @Sendable () -> Void)
}
