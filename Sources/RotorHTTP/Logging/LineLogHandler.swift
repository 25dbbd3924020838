public import Logging

/// Rotor's swift-log handler: one line per event, in the ``Layout`` `ROTOR_LOG_FORMAT` names,
/// handed to a sink (``LogSink/standardError`` in `rotor`).
///
/// It exists for speed. swift-log's `StreamLogHandler` re-renders a logger's metadata whenever
/// it changes (each request sets its id) and builds each line from several strings, which made
/// the access log line most of a small request's cost; this renders straight into bytes.
///
/// Callers never put secrets in metadata (STYLE.md rule 4); as a second line of defence, values
/// under keys that name credentials (``LogRedaction/isSensitiveMetadataKey(_:)``) are written as
/// `[REDACTED]`, in nested dictionaries too.
public struct LineLogHandler: LogHandler {
    /// How a line is laid out.
    public enum Layout: String, Sendable, CaseIterable {
        /// Human-readable, in swift-log's `StreamLogHandler` layout (``TextLogLayout``).
        case text
        /// One JSON object per line (``JSONLogLayout``).
        case json
    }

    /// Receives each finished line, newline included, and its level.
    public typealias Sink = @Sendable (_ line: [UInt8], _ level: Logger.Level) -> Void

    /// What stands in a line for a redacted value.
    static let redacted = "[REDACTED]"

    /// The logger's label.
    public let label: String
    /// The line layout.
    public let layout: Layout
    /// The minimum level logged.
    public var logLevel: Logger.Level
    /// Metadata on every line of this logger.
    public var metadata: Logger.Metadata = [:]
    /// Adds contextual metadata when a line is written.
    public var metadataProvider: Logger.MetadataProvider?
    private let sink: Sink

    /// A handler giving each finished line to `sink`.
    public init(
        label: String, layout: Layout, logLevel: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil, sink: @escaping Sink
    ) {
        self.label = label
        self.layout = layout
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
        self.sink = sink
    }

    /// A handler writing to standard error through ``LogSink/standardError``: `warning` and
    /// above at once, the rest batched.
    public static func standardError(label: String, layout: Layout, logLevel: Logger.Level = .info) -> LineLogHandler {
        LineLogHandler(label: label, layout: layout, logLevel: logLevel) { line, level in
            LogSink.standardError.write(line, urgent: LogLine.isUrgent(level))
        }
    }

    /// The value of `key` in this logger's metadata.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let entries = LogLine.entries(base: self.metadata, provider: self.metadataProvider, event: event)
        let now = LogLine.now()
        let message = event.message.description
        let line =
            switch self.layout {
            case .text:
                TextLogLayout.line(seconds: now.seconds, level: event.level, label: self.label, source: event.source, message: message, metadata: entries)
            case .json:
                JSONLogLayout.line(timestamp: now, level: event.level, label: self.label, message: message, metadata: entries)
            }
        self.sink(line, event.level)
    }
}
