import Foundation
import NIOHTTP1
import RotorCore
import RotorHTTP

/// The long-poll shared by the key routes (`GET …/secret?after_version=&wait=`,
/// `GET …/agent/key?known_version=&wait=`): the answer comes as soon as the credential serves a
/// key the caller does not have yet, or as `204 No Content` once the wait is over.
///
/// Like a job's `?wait=` it is a deferred answer (``Response/deferred(_:)``), woken by the
/// store's ``Store/observeServedKeys(_:)`` notifications rather than by polling, counted against
/// the token's ``WaitLimits``, and ended early by the client going away. A waiter registers
/// before its first read, so a rotation that commits between the read and the wait still wakes it.
enum KeyLongPoll {
    /// `read` returns the answer once there is something new for the caller, `nil` while there is not.
    static func answer(
        _ id: CredentialID, waiting seconds: TimeInterval, _ request: Request, _ services: RotationServices,
        read: @escaping @Sendable () async throws -> Response?
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
            return .noContent
        }
        let holder = request.principal?.id ?? "anonymous"
        guard services.waitLimits.acquire(holder) else {
            ticket.cancel()
            throw HTTPError.tooManyWaits
        }
        let disconnect = request.clientDisconnect
        return .deferred {
            defer {
                ticket.cancel()
                services.waitLimits.release(holder)
            }
            while ContinuousClock.now < deadline, !(disconnect?.hasOccurred ?? false) {
                await ticket.wait(until: deadline, disconnect: disconnect)
                if let answer = try await read() { return answer }
            }
            return .noContent
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
