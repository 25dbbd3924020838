public import Logging
import NIOCore
import NIOHTTP1

/// One log line per request: method, route template (or path), status, duration, peer.
///
/// Headers are not logged except through ``LogRedaction``, so `Authorization`, signatures and
/// cookies never reach a log. The query string is left out because callers put filters there,
/// and an operator's log is the wrong place for them.
public struct AccessLogMiddleware: Middleware {
    private let level: Logger.Level
    private let logHeaders: Bool

    /// Logs at `level`; with `logHeaders`, the redacted request headers are added at `.debug`.
    public init(level: Logger.Level = .info, logHeaders: Bool = false) {
        self.level = level
        self.logHeaders = logHeaders
    }

    public func respond(to request: Request, next: Responder) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request)
        } catch {
            self.log(request, status: .answering(error), since: start)
            throw error
        }
        guard response.completion == nil else {
            return response.finishing { result in
                self.log(request, status: result.status, since: start)
                return result
            }
        }
        self.log(request, status: response.status, since: start)
        return response
    }

    private func log(_ request: Request, status: HTTPResponseStatus, since start: ContinuousClock.Instant) {
        guard request.logger.logLevel <= self.level else { return }
        let elapsed = ContinuousClock.now - start
        let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
        var metadata: Logger.Metadata = [
            "http.method": .string(request.method.rawValue),
            "http.path": .string(request.path),
            "http.status": .stringConvertible(status.code),
            "http.duration_us": .stringConvertible(micros),
        ]
        if let peer = request.remoteAddress?.ipAddress {
            metadata["http.peer"] = .string(peer)
        }
        if self.logHeaders {
            metadata["http.headers"] = .string(LogRedaction.redacted(request.headers))
        }
        request.logger.log(level: self.level, "request", metadata: metadata)
    }
}
