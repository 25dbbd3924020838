import Logging
import NIOCore
import NIOHTTP1
import RotorHTTP
import Synchronization

/// Answers every error the Vultr way (`{"error", "status"}`), including the router's own 404 and
/// 405; anything unexpected becomes a bare 500. ``AbortConnection`` passes through untouched.
struct VultrErrorMiddleware: Middleware {
    func respond(to request: Request, next: Responder) async throws -> Response {
        do {
            return try await next(request)
        } catch let error as VultrError {
            return error.response()
        } catch let error as HTTPError {
            return VultrError(translating: error).response()
        } catch let abort as AbortConnection {
            throw abort
        } catch {
            request.logger.error("fake-vultr: unhandled error", metadata: ["error.type": "\(type(of: error))"])
            return VultrError(.internalServerError, "Internal server error.").response()
        }
    }
}

/// Counts each request, then applies the configured rate limit and any switched-on faults before
/// the route runs. It sees every request, known route or not, as the real API's edge would.
struct FaultMiddleware: Middleware {
    let fake: FakeVultr

    func respond(to request: Request, next: Responder) async throws -> Response {
        let (latency, refusal) = self.fake.admit(request, operation: FakeVultr.Operation(request))
        if let latency {
            try await Task.sleep(for: latency)
        }
        if let refusal {
            throw refusal
        }
        return try await next(request)
    }
}

extension FakeVultr {
    /// Records the request and decides, under the lock, its added latency and whether it is refused.
    fileprivate func admit(_ request: Request, operation: Operation?) -> (latency: Duration?, refusal: VultrError?) {
        let source = request.remoteAddress?.ipAddress ?? "unknown"
        let now = ContinuousClock.now
        let limit = self.configuration.rateLimitPerSecond
        return self.state.withLock { state in
            if let operation {
                state.counts[operation, default: RequestCounts()].received += 1
            }
            var latency: Duration?
            if let configured = state.latency, configured.operation == nil || configured.operation == operation {
                latency = configured.duration
            }

            // A fixed one-second window per source IP; refused requests count too, as they do at
            // the real edge, so a client that ignores 429 stays limited.
            if let limit {
                var window = state.rateWindows[source] ?? RateWindow(start: now, count: 0)
                if now - window.start >= .seconds(1) {
                    window = RateWindow(start: now, count: 0)
                }
                window.count += 1
                state.rateWindows[source] = window
                if window.count > limit {
                    return (latency, .tooManyRequests(retryAfter: 1))
                }
            }

            guard let index = state.faults.firstIndex(where: { $0.remaining > 0 && ($0.operation == nil || $0.operation == operation) }) else {
                return (latency, nil)
            }
            let fault = state.faults[index]
            state.faults[index].remaining -= 1
            if state.faults[index].remaining == 0 {
                state.faults.remove(at: index)
            }
            switch fault.kind {
            case .fail(let status):
                return (latency, VultrError(status, "Injected failure (\(status.code)). Please try again."))
            case .rateLimit(let retryAfter):
                return (latency, .tooManyRequests(retryAfter: retryAfter))
            }
        }
    }
}
