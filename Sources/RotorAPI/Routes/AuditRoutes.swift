import RotorCore
import RotorHTTP

/// `GET /v1/audit`: the hash-chained audit log, oldest first (admin only).
enum AuditRoutes {
    static func register(on v1: ScopedRoutes, audit: any AuditStore) {
        v1.get("/audit") { request in
            let page: Page<AuditEntry>
            do {
                page = try await audit.auditEntries(try pageRequest(request))
            } catch let error as StoreError where error.code == .notFound {
                throw HTTPError.invalidRequest("The query is invalid.", errors: [.init(field: "cursor", message: "is not a cursor this list gave out")])
            }
            return try Response.json(ListResponse(data: page.items.map(AuditEntryResource.init), nextCursor: page.nextCursor))
        }
    }
}
