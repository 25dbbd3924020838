import Foundation
import NIOCore
import NIOHTTP1
import RotorCore
import RotorHTTP

/// `/v1/jobs`: start rotations, follow them, cancel them (DESIGN.md §4, Jobs).
enum JobRoutes {
    /// The longest `?wait=` a caller may ask for.
    static let maximumWait: TimeInterval = 60

    static func register(on v1: ScopedRoutes, services: RotationServices) {
        v1.post("/jobs") { request in try await self.create(request, services) }
        v1.get("/jobs") { request in
            let filter = try self.filter(request)
            var page: Page<Job>
            if let bound = request.principal?.credentialIDs, let only = filter.credentialID, !bound.contains(only.rawValue) {
                // Another credential's jobs: as if it had none.
                page = Page(items: [], nextCursor: nil)
            } else {
                page = try await readPage(request) { try await services.store.jobs(filter, $0) }
                if let bound = request.principal?.credentialIDs {
                    // A page may then hold fewer than `limit` items while `next_cursor` leads on.
                    page.items.removeAll { !bound.contains($0.credentialID.rawValue) }
                }
            }
            return services.jobAnswers.listResponse(page.items, nextCursor: page.nextCursor)
        }
        v1.get("/jobs/{id}") { request in
            let id = try request.id("id", as: JobID.self)
            let wait = try KeyLongPoll.waitSeconds(request)
            guard wait > 0 else { return services.jobAnswers.response(for: try await self.readJob(id, request, services)) }
            return try await self.waitForJob(id, seconds: wait, request, services)
        }
        v1.get("/jobs/{id}/events") { request in
            let id = try request.id("id", as: JobID.self)
            let after = try self.afterSequence(request)
            let wait = try KeyLongPoll.waitSeconds(request)
            let job = try await self.readJob(id, request, services)
            guard wait > 0 else { return try await self.events(of: job, after: after ?? 0, services).response }
            // Each look reads the job again (the first after the long-poll has registered, so that
            // a move in between still wakes it): whether it is over decides what is news.
            let page: @Sendable () async throws -> (response: Response, isNews: Bool) = {
                try await self.events(of: try await self.readJob(id, request, services), after: after ?? 0, services)
            }
            // A job's moves to another step or state wake its credential's waiters
            // (``Store/observeServedKeys(_:)``), its end included: the events come with them.
            return try await KeyLongPoll.answer(
                job.credentialID, waiting: wait, request, services,
                read: { let answer = try await page(); return answer.isNews ? answer.response : nil },
                whenWaitEnds: { try await page().response }
            )
        }
        v1.post("/jobs/{id}/cancel") { request in
            let id = try request.id("id", as: JobID.self)
            guard let stored = try await services.store.job(id), request.principal?.mayAct(on: stored.credentialID) ?? false else {
                throw HTTPError.notFound("No job \(id).")
            }
            do {
                let now = services.clock.now()
                let job = try await Audit.recording("job.cancel", id.rawValue, at: now) {
                    try await services.store.requestCancel(id, at: now)
                }
                await services.wakeEngine()
                return JobResource(job: job).response(status: .accepted)
            } catch let error as JobTransitionError {
                throw HTTPError.conflict(code: "cancel_too_late", "The job can no longer be cancelled: \(error.description).")
            }
        }
    }

    /// The job if the caller may see it, else 404.
    private static func readJob(_ id: JobID, _ request: Request, _ services: RotationServices) async throws -> Job {
        guard let job = try await services.store.job(id), request.principal?.mayAct(on: job.credentialID) ?? false else {
            throw HTTPError.notFound("No job \(id).")
        }
        return job
    }

    /// `job`'s events after sequence number `after`, and whether that is news to a waiting
    /// caller: there are some, or the job is over.
    private static func events(of job: Job, after: Int, _ services: RotationServices) async throws -> (response: Response, isNews: Bool) {
        let events = try await services.store.events(job.id).filter { $0.seq > after }
        return (try Response.json(ListResponse(data: events, nextCursor: nil)), !events.isEmpty || job.state.isTerminal)
    }

    /// `?after=`: how many of the job's events the caller has seen (the last one's `seq`).
    private static func afterSequence(_ request: Request) throws(HTTPError) -> Int? {
        guard let text = request.query["after"] else { return nil }
        guard let after = Int(text), after >= 0 else {
            throw HTTPError.invalidRequest("The query is invalid.", errors: [.init(field: "after", message: "must be a whole number, 0 or more")])
        }
        return after
    }

    /// `?wait=`: answers once the job is terminal, the wait is over, or the client has gone. The
    /// wait is a deferred answer (``Response/deferred(_:)``): it runs after the handler and its
    /// middleware have returned, outside the server's in-flight count, holding little memory; it
    /// is woken by the job's commit, not by polling the store; each token may hold ``WaitLimits``
    /// waits at once.
    private static func waitForJob(_ id: JobID, seconds: TimeInterval, _ request: Request, _ services: RotationServices) async throws -> Response {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        // Registered before the first read, so a commit between the read and the wait still wakes it.
        let ticket = services.jobWaiters.register(id)
        let job: Job
        do {
            job = try await self.readJob(id, request, services)
        } catch {
            ticket.cancel()
            throw error
        }
        let holder = request.principal?.id ?? "anonymous"
        guard !job.state.isTerminal, services.waitLimits.acquire(holder) else {
            ticket.cancel()
            guard job.state.isTerminal else {
                throw HTTPError.tooManyWaits
            }
            return services.jobAnswers.response(for: job)
        }
        // What the wait holds while it sleeps is all that 10,000 waits cost: so the closure takes
        // the few references it needs (not `services` or the job), and the read and encoding
        // after each wake run in ``latestAnswer`` with frames of their own, freed on return.
        let principal = request.principal
        let disconnect = request.clientDisconnect
        let (store, waiters, limits) = (services.store, services.jobWaiters, services.waitLimits)
        return .deferred {
            defer {
                ticket.cancel()
                limits.release(holder)
            }
            while true {
                await ticket.wait(until: deadline, disconnect: disconnect)
                let latest = try await Self.latestAnswer(id, for: principal, store, waiters)
                if latest.terminal || ContinuousClock.now >= deadline || (disconnect?.hasOccurred ?? false) { return latest.response }
            }
        }
    }

    /// The waited-for job's answer as it stands, and whether the job is terminal. Everyone waiting
    /// for the job wakes together: one read and one encoding for all.
    @inline(never)
    private static func latestAnswer(
        _ id: JobID, for principal: Principal?, _ store: any Store, _ waiters: JobWaiters
    ) async throws -> (response: Response, terminal: Bool) {
        let shared = try await waiters.sharedTerminalRead(id) {
            guard let job = try await store.job(id) else { throw HTTPError.notFound("No job \(id).") }
            return SharedJob(job: job, response: JobResource(job: job).response())
        }
        guard principal?.mayAct(on: shared.job.credentialID) ?? false else { throw HTTPError.notFound("No job \(id).") }
        return (shared.response, shared.job.state.isTerminal)
    }

    private static func create(_ request: Request, _ services: RotationServices) async throws -> Response {
        let body = try request.decode(JobCreateRequest.self)
        guard let credentialID = CredentialID(body.credentialID) else {
            throw HTTPError.invalidBody(field: "credential_id", "must be a credential id (cred_…)")
        }
        if let reason = body.reason, reason.count > 500 {
            throw HTTPError.invalidBody(field: "reason", "must be at most 500 characters")
        }
        let gracePeriod = body.gracePeriod ?? .zero
        if gracePeriod.fixedSeconds.map({ $0 > 30 * 86_400 }) ?? true {
            throw HTTPError.invalidBody(field: "grace_period", "must be a fixed duration of at most P30D (no years or months)")
        }
        let noSuchCredential = HTTPError.invalidBody(field: "credential_id", "names no credential")
        guard request.principal?.mayAct(on: credentialID) ?? false else { throw noSuchCredential }

        let presentedKey = request.headers.first(name: "Idempotency-Key")
        if let key = presentedKey, !(1...255).contains(key.utf8.count) {
            throw HTTPError.invalidRequest("The Idempotency-Key header must be 1 to 255 characters.")
        }
        let now = services.clock.now()
        // The store takes the old key and the targets from the credential in the transaction
        // that inserts the job; a read here could be a rotation behind by then.
        let job = NewJob(
            credentialID: credentialID,
            trigger: Trigger(kind: .api, source: request.principal?.id),
            reason: body.reason,
            dryRun: body.dryRun ?? false,
            gracePeriod: gracePeriod,
            at: now
        )
        let created: Job
        do {
            let creation = try await Audit.recording("job.create", job.id.rawValue, at: now) {
                try await services.store.createJob(
                    job,
                    // Scoped to the caller: another token's key with the same text is another key.
                    idempotencyKey: presentedKey.map { "\(request.principal?.id ?? "anonymous")\u{1F}\($0)" },
                    requestFingerprint: services.sha256Hex(Array(request.body.readableBytesView)),
                    events: [JobEvent(at: now, type: "job.created", message: "Requested by \(request.principal?.name ?? "unknown")\(body.reason.map { ": \($0)" } ?? ".")")]
                )
            }
            switch creation {
            case .created(let job):
                created = job
                await services.wakeEngine()
            case .replayed(let job):
                created = job
            }
        } catch let error as StoreError where error.code == .notFound {
            throw noSuchCredential
        }
        return JobResource(job: created).response(status: .accepted, headers: ["Location": "/v1/jobs/\(created.id.rawValue)"])
    }

    private static func filter(_ request: Request) throws(HTTPError) -> JobFilter {
        var filter = JobFilter()
        var errors: [HTTPError.FieldError] = []
        if let text = request.query["credential_id"] {
            if let id = CredentialID(text) { filter.credentialID = id } else { errors.append(.init(field: "credential_id", message: "must be a credential id")) }
        }
        if let text = request.query["state"] {
            if let state = JobState(rawValue: text) {
                filter.state = state
            } else {
                errors.append(.init(field: "state", message: "must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        guard errors.isEmpty else { throw HTTPError.invalidRequest("The query is invalid.", errors: errors) }
        return filter
    }
}
