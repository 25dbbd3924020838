import Logging
import NIOCore
import NIOHTTP1
import RotorHTTP
import Synchronization

/// A logger that keeps its records in memory, so tests can assert what was (not) logged.
final class CapturedLogs: Sendable {
    private let lines = Mutex<[String]>([])

    func append(_ line: String) { self.lines.withLock { $0.append(line) } }
    var all: [String] { self.lines.withLock { $0 } }

    func logger(level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: "test") { _ in CapturingHandler(sink: self) }
        logger.logLevel = level
        return logger
    }

    private struct CapturingHandler: LogHandler {
        let sink: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
            self.sink.append("\(event.level) \(event.message) \(merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
        }
    }
}

/// Calls `responder` in-process the way the server would, turning thrown problems into responses.
func call(
    _ responder: RouterResponder,
    _ method: HTTPMethod,
    _ uri: String,
    headers: HTTPHeaders = [:],
    body: String? = nil
) async throws -> Response {
    do {
        let request = try Request(
            method: method,
            uri: uri,
            headers: headers,
            body: body.map { ByteBuffer(string: $0) } ?? ByteBuffer(),
            logger: Logger(label: "test")
        )
        return try await responder.respond(to: request)
    } catch let error as any HTTPResponseError {
        return error.response()
    }
}

extension Response {
    var bodyString: String { String(buffer: self.body) }
}

/// A handler that answers a fixed text.
func text(_ value: String) -> Responder {
    { _ in Response.text(value, contentType: "text/plain") }
}
