#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
public import Logging

/// A swift-log handler that writes human-readable lines (`ROTOR_LOG_FORMAT=text`, the default),
/// in the layout of swift-log's `StreamLogHandler`:
///
/// ```
/// 2026-11-26T20:31:02+0000 info rotor: http.method=GET http.status=200 request_id=req_… [RotorHTTP] request
/// ```
///
/// It exists for speed: `StreamLogHandler` re-renders a logger's metadata on every change (each
/// request sets its id) and builds each line from several strings, which made the access log
/// line most of a small request's cost. This one renders straight into bytes, and hands lines
/// to a ``LogSink`` that batches its writes. As ``JSONLogHandler`` does, it replaces values
/// under keys that name credentials (``LogRedaction/isSensitiveMetadataKey(_:)``) with
/// `[REDACTED]`.
public struct TextLogHandler: LogHandler {
    /// The logger's label.
    public let label: String
    /// The minimum level logged.
    public var logLevel: Logger.Level
    /// Metadata on every line of this logger.
    public var metadata: Logger.Metadata = [:]
    /// Adds contextual metadata when a line is written.
    public var metadataProvider: Logger.MetadataProvider?
    private let sink: @Sendable (_ line: [UInt8], _ level: Logger.Level) -> Void

    /// A handler giving each finished line (newline included) and its level to `sink`.
    public init(
        label: String,
        logLevel: Logger.Level = .info,
        metadataProvider: Logger.MetadataProvider? = nil,
        sink: @escaping @Sendable (_ line: [UInt8], _ level: Logger.Level) -> Void
    ) {
        self.label = label
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
        self.sink = sink
    }

    /// A handler writing to standard error through ``LogSink/standardError``.
    public static func standardError(label: String, logLevel: Logger.Level = .info) -> TextLogHandler {
        TextLogHandler(label: label, logLevel: logLevel) { line, level in
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
        let message = event.message.description
        var out: [UInt8] = []
        out.reserveCapacity(160 + message.utf8.count)
        Self.appendTimestamp(LogLine.now().seconds, to: &out)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: event.level.rawValue.utf8)
        if !self.label.isEmpty {
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: self.label.utf8)
        }
        out.append(UInt8(ascii: ":"))
        for (key, value) in entries {
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: key.utf8)
            out.append(UInt8(ascii: "="))
            if LogRedaction.isSensitiveMetadataKey(key) {
                out.append(contentsOf: "[REDACTED]".utf8)
            } else {
                Self.append(value, quoted: false, to: &out)
            }
        }
        out.append(contentsOf: " [".utf8)
        out.append(contentsOf: event.source.utf8)
        out.append(contentsOf: "] ".utf8)
        out.append(contentsOf: message.utf8)
        out.append(UInt8(ascii: "\n"))
        self.sink(out, event.level)
    }

    /// A metadata value as swift-log's `description` writes it: strings bare at the top level
    /// and quoted inside arrays and dictionaries; credentials inside dictionaries redacted too.
    private static func append(_ value: Logger.MetadataValue, quoted: Bool, to out: inout [UInt8]) {
        switch value {
        case .string(let text):
            out.append(contentsOf: (quoted ? text.debugDescription : text).utf8)
        case .stringConvertible(let convertible):
            let text = convertible.description
            out.append(contentsOf: (quoted ? text.debugDescription : text).utf8)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { out.append(contentsOf: ", ".utf8) }
                Self.append(element, quoted: true, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .dictionary(let dictionary):
            guard !dictionary.isEmpty else {
                out.append(contentsOf: "[:]".utf8)
                return
            }
            out.append(UInt8(ascii: "["))
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { out.append(contentsOf: ", ".utf8) }
                out.append(contentsOf: key.debugDescription.utf8)
                out.append(contentsOf: ": ".utf8)
                if LogRedaction.isSensitiveMetadataKey(key) {
                    out.append(contentsOf: "\"[REDACTED]\"".utf8)
                } else {
                    Self.append(dictionary[key]!, quoted: true, to: &out)
                }
            }
            out.append(UInt8(ascii: "]"))
        }
    }

    /// `2026-11-26T20:31:02+0000`: local time to the second, as swift-log writes it.
    static func appendTimestamp(_ seconds: Int, to out: inout [UInt8]) {
        var time = time_t(seconds)
        var parts = tm()
        localtime_r(&time, &parts)
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 32) { buffer in
            let count = strftime(buffer.baseAddress!, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
            buffer.withMemoryRebound(to: UInt8.self) { bytes in
                out.append(contentsOf: bytes.prefix(count))
            }
        }
    }
}
