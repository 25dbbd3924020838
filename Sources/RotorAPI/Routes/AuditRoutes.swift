import RotorCore
import RotorHTTP

/// `GET /v1/audit`: the hash-chained audit log, oldest first (admin only), with a checkpoint of
/// its newest entry signed for this answer.
enum AuditRoutes {
    static func register(on v1: ScopedRoutes, audit: any AuditStore, clock: any RotorClock) {
        v1.get("/audit") { request in
            let page = try await readPage(request, audit.auditEntries)
            // Signed after the page was read, so it covers at least the page's entries; the
            // caller who keeps it can later prove that none of them was removed.
            let checkpoint = try await audit.auditCheckpoint(at: clock.now())
            return try Response.json(
                AuditListResponse(data: page.items.map(AuditEntryResource.init), nextCursor: page.nextCursor, checkpoint: checkpoint))
        }
    }
}
