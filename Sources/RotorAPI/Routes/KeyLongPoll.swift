import Foundation
import NIOHTTP1
import RotorCore
import RotorHTTP

/// The long-poll shared by the routes that wait on a credential's rotations (`GET …/secret?after_version=&wait=`,
/// `GET …/agent/key?known_version=&wait=`, `GET /v1/jobs/{id}/events?after=&wait=`): the answer
/// comes as soon as there is something the caller has not seen yet (a key, a job's events), or
/// once the wait is over (`204 No Content` for the key routes).
///
/// Like a job's `?wait=` it is a deferred answer (``Response/deferred(_:)``), woken by the
/// store's ``Store/observeServedKeys(_:)`` notifications rather than by polling, counted against
/// the token's ``WaitLimits``, and ended early by the client going away. A waiter registers
/// before its first read, so a rotation that commits between the read and the wait still wakes it.
enum KeyLongPoll {
    /// `read` returns the answer once there is something new for the caller, `nil` while there is
    /// not; `whenWaitEnds` answers when the wait is over with nothing new.
    static func answer(
        _ id: CredentialID, waiting seconds: TimeInterval, _ request: Request, _ services: RotationServices,
        read: @escaping @Sendable () async throws -> Response?,
        whenWaitEnds: @escaping @Sendable () async throws -> Response = { .noContent },
        afterHold: @escaping @Sendable () async -> Void = {}
    ) async throws -> Response {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        let ticket = services.keyWaiters.register(id)
        let first: Response?
        do {
            first = try await read()
        } catch {
            ticket.cancel()
            throw error
        }
        if let first {
            ticket.cancel()
            return first
        }
        guard seconds > 0 else {
            ticket.cancel()
            return try await whenWaitEnds()
        }
        let holder = request.principal?.id ?? "anonymous"
        guard services.waitLimits.acquire(holder) else {
            ticket.cancel()
            throw HTTPError.tooManyWaits
        }
        let disconnect = request.clientDisconnect
        // The closure is what each held wait keeps: the limits, not the whole `services`.
        let limits = services.waitLimits
        return .deferred {
            defer {
                ticket.cancel()
                limits.release(holder)
            }
            var answer: Response?
            while answer == nil, ContinuousClock.now < deadline, !(disconnect?.hasOccurred ?? false) {
                await ticket.wait(until: deadline, disconnect: disconnect)
                answer = try await read()
            }
            await afterHold()
            if let answer { return answer }
            return try await whenWaitEnds()
        }
    }

    /// `?wait=`: an ISO 8601 duration of at most PT60S; 0 without one.
    static func waitSeconds(_ request: Request) throws(HTTPError) -> TimeInterval {
        guard let text = request.query["wait"] else { return 0 }
        guard let duration = try? ISODuration(parsing: text), let seconds = duration.fixedSeconds, seconds <= JobRoutes.maximumWait else {
            throw HTTPError.invalidRequest("The query is invalid.", errors: [.init(field: "wait", message: "must be an ISO 8601 duration of at most PT60S")])
        }
        return seconds
    }
}

extension HTTPError {
    /// A token holds as many waiting requests as ``WaitLimits`` allow.
    static var tooManyWaits: HTTPError {
        HTTPError(
            .tooManyRequests, code: "too_many_waits",
            detail: "This token already holds as many waiting requests as it may; retry later or wait with fewer requests.",
            headers: ["Retry-After": "1"])
    }
}
