public import Foundation

/// Persistence for inbound triggers, their replay log, and the leaked-key index (DESIGN.md §4,
/// Inbound triggers). Kept apart from ``Store`` so that stores add it on its own; every method is
/// one transaction.
public protocol TriggerStore: Sendable {
    // MARK: Triggers

    /// Stores a new trigger with its signing secret (sealed).
    func createTrigger(_ trigger: WebhookTrigger, secret: Secret) async throws
    /// The trigger, or nil.
    func trigger(_ id: TriggerID) async throws -> WebhookTrigger?
    /// Triggers, newest first, in pages.
    func triggers(_ page: PageRequest) async throws -> Page<WebhookTrigger>
    /// Deletes the trigger, its secrets and its replay log. Throws ``StoreError/Code/notFound``.
    func deleteTrigger(_ id: TriggerID) async throws
    /// The secrets a request may be signed with at `now`: the current one first, then the
    /// previous one while its overlap lasts. Throws ``StoreError/Code/notFound``.
    func triggerSecrets(_ id: TriggerID, at now: Date) async throws -> [Secret]
    /// Makes `secret` current; the old current secret keeps verifying until `previousValidUntil`
    /// (a roll within an overlap drops the secret before it). Returns the updated trigger.
    /// Throws ``StoreError/Code/notFound``.
    func rollTriggerSecret(_ id: TriggerID, to secret: Secret, previousValidUntil: Date, at now: Date) async throws -> WebhookTrigger

    // MARK: Replays

    /// The jobs the first delivery `deliveryID` of this trigger answered with, if it was received
    /// at or after `since`.
    func hookDelivery(_ trigger: TriggerID, deliveryID: String, since: Date) async throws -> [JobID]?
    /// Records what delivery `deliveryID` answered with, unless a delivery with that id was
    /// recorded at or after `since` (a concurrent duplicate): then that one's jobs are returned and
    /// nothing changes. A record of the same delivery older than `since` is replaced; other old
    /// records are left to retention (``RetentionStore``), which prunes them in batches.
    func recordHookDelivery(_ trigger: TriggerID, deliveryID: String, jobs: [JobID], at now: Date, since: Date) async throws -> [JobID]

    // MARK: Leaked keys

    /// The credentials whose CURRENT key has one of these SHA-256 digests (lower-case hex), by
    /// digest. Answered from an index kept when the current key changes, without decrypting.
    func credentialIDs(currentKeySHA256 digests: [String]) async throws -> [String: CredentialID]
    /// Takes the grace period out of a non-terminal job, so the key it replaces is revoked without
    /// waiting (a leak report joined it): grace becomes `PT0S`, and a grace already running ends
    /// at `now`. Appends `event` and bumps the job's revision, so a runner holding an older copy
    /// re-reads it rather than writing the grace back. Returns the job as stored (unchanged when
    /// terminal, or already without grace); nil when absent.
    func expediteJob(_ id: JobID, at now: Date, event: JobEvent) async throws -> Job?
}
