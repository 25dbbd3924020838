import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorCore
import RotorCrypto
import RotorHTTP

/// `POST /v1/leaks/github`: GitHub secret scanning's partner endpoint (DESIGN.md §4).
///
/// The ECDSA P-256 signature over the raw body is checked before the body is parsed. Each
/// reported token is hashed and looked up in the current-key index; a match starts an emergency
/// rotation (trigger `leak`, no grace period) or joins the active one.
enum LeakRoutes {
    /// Tokens one report may carry.
    static let maximumTokens = 1000
    /// Who leak reports are audited as.
    static let actor = "github-secret-scanning"

    static func register(on router: some RouteRegistering, services: RotationServices, triggers: any TriggerStore, keys: GitHubKeySource) {
        router.post("/v1/leaks/github") { request in
            // The keys in force for this request: a reload replaces the whole set at once.
            try await Audit.$actor.withValue(Self.actor) { try await self.receive(request, services, triggers, keys.current) }
        }
    }

    private static func receive(_ request: Request, _ services: RotationServices, _ triggers: any TriggerStore, _ keys: GitHubKeySet?) async throws -> Response {
        guard let keys else {
            throw HTTPError.unavailable("GitHub secret-scanning intake is not configured on this server (set ROTOR_GITHUB_KEYS_FILE).")
        }
        guard let identifier = request.headers.first(name: "Github-Public-Key-Identifier"),
            let signature = request.headers.first(name: "Github-Public-Key-Signature")
        else {
            throw HookRoutes.invalid("The Github-Public-Key-Identifier and Github-Public-Key-Signature headers are required.")
        }
        guard let key = keys.key(identifier) else { throw HookRoutes.invalid("Github-Public-Key-Identifier names no configured key.") }
        guard let der = Data(base64Encoded: signature), key.isValidSignature(Array(der), for: request.body.readableBytesView) else {
            throw HookRoutes.invalid("Github-Public-Key-Signature is not a valid signature of this body.")
        }

        let items = try request.decode([LeakReportItem].self)
        guard items.count <= Self.maximumTokens else {
            throw HTTPError.invalidRequest("A report may carry at most \(Self.maximumTokens) tokens.")
        }
        let digests = items.map { SHA256.hexDigest($0.token) }
        let matches = try await triggers.credentialIDs(currentKeySHA256: digests)

        // The report itself is audited (never its tokens): one entry per matched credential, one
        // for the tokens that matched none.
        let audit = services.store
        let reportedAt = services.clock.now()
        if digests.contains(where: { matches[$0] == nil }) {
            try await audit.appendAudit(AuditRecord(at: reportedAt, actor: Self.actor, action: "leak.report", resource: "unmatched", outcome: "false_positive"))
        }
        var started = false
        var handled: Set<CredentialID> = []
        for (item, digest) in zip(items, digests) {
            guard let credentialID = matches[digest], handled.insert(credentialID).inserted else { continue }
            let source = item.url.flatMap { $0.utf8.count <= 2048 ? $0 : nil } ?? "github-secret-scanning"
            try await audit.appendAudit(AuditRecord(at: reportedAt, actor: Self.actor, action: "leak.report", resource: credentialID.rawValue, outcome: "true_positive"))
            let type = item.type.map { String($0.prefix(100)) } ?? "unknown type"
            let reason = "Leaked: GitHub secret scanning reported the current key (\(type)) at \(source)."
            let outcome = try await services.startOrJoin(credentialID, trigger: Trigger(kind: .leak, source: source), reason: reason, gracePeriod: .zero)
            let metadata: Logger.Metadata = ["credential": "\(credentialID)"]
            switch outcome {
            case .started(let job):
                started = true
                request.logger.warning("leaked key reported; emergency rotation started", metadata: metadata.merging(["job": "\(job.id)"]) { $1 })
            case .joined(let job):
                request.logger.warning("leaked key reported; joined the active rotation", metadata: metadata.merging(["job": "\(job.id)"]) { $1 })
                if job.graceEndsAt != nil {
                    // The key matched as current is this job's new key: the job cannot replace it.
                    request.logger.error(
                        "the leaked key is the new key of the active rotation; rotate again once it finishes",
                        metadata: metadata.merging(["job": "\(job.id)"]) { $1 })
                } else {
                    // The leaked key is the one this job replaces: revoke it without waiting out a grace period.
                    let now = services.clock.now()
                    let event = JobEvent(
                        at: now, type: "job.expedited", step: job.step,
                        message: "A leak report of the key being replaced set the grace period to PT0S.")
                    let expedited = try await Audit.recording("job.expedite", job.id.rawValue, at: now) {
                        try await triggers.expediteJob(job.id, at: now, event: event)
                    }
                    if let expedited, expedited.revision != job.revision {
                        started = true
                    }
                }
            case .skipped(let why):
                request.logger.error("leaked key reported but not rotated: \(why)", metadata: metadata)
            }
        }
        if started { await services.wakeEngine() }
        let labels = zip(items, digests).map { item, digest in
            LeakLabel(tokenHash: digest, tokenType: item.type, label: matches[digest] == nil ? "false_positive" : "true_positive")
        }
        return try Response.json(labels)
    }
}
