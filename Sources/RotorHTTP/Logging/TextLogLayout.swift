#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging

/// ``LineLogHandler/Layout/text``: human-readable lines in the layout of swift-log's
/// `StreamLogHandler` (`ROTOR_LOG_FORMAT=text`, the default):
///
/// ```
/// 2026-11-26T20:31:02+0000 info rotor: http.method=GET http.status=200 request_id=req_… [RotorHTTP] request
/// ```
enum TextLogLayout {
    /// The line for one event, newline included; `metadata` is sorted by key.
    static func line(
        seconds: Int, level: Logger.Level, label: String, source: String, message: String, metadata: [LogLine.Entry]
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 + message.utf8.count)
        Self.appendTimestamp(seconds, to: &out)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: level.rawValue.utf8)
        if !label.isEmpty {
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: label.utf8)
        }
        out.append(UInt8(ascii: ":"))
        for (key, value) in metadata {
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: key.utf8)
            out.append(UInt8(ascii: "="))
            if LogRedaction.isSensitiveMetadataKey(key) {
                out.append(contentsOf: LineLogHandler.redacted.utf8)
            } else {
                Self.append(value, quoted: false, to: &out)
            }
        }
        out.append(contentsOf: " [".utf8)
        out.append(contentsOf: source.utf8)
        out.append(contentsOf: "] ".utf8)
        out.append(contentsOf: message.utf8)
        out.append(UInt8(ascii: "\n"))
        return out
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
                    out.append(contentsOf: LineLogHandler.redacted.debugDescription.utf8)
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
