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
///
/// Every value is written on one line: control characters (C0, DEL and C1, which include the
/// newline and the terminal's escape sequences) become `\n`, `\r`, `\t` or `\u{XX}`, so a
/// request path or header cannot forge a line of its own or recolour an operator's terminal.
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
            Self.appendEscaped(label, to: &out)
        }
        out.append(UInt8(ascii: ":"))
        for (key, value) in metadata {
            out.append(UInt8(ascii: " "))
            Self.appendEscaped(key, to: &out)
            out.append(UInt8(ascii: "="))
            if LogRedaction.isSensitiveMetadataKey(key) {
                out.append(contentsOf: LineLogHandler.redacted.utf8)
            } else {
                Self.append(value, quoted: false, to: &out)
            }
        }
        out.append(contentsOf: " [".utf8)
        Self.appendEscaped(source, to: &out)
        out.append(contentsOf: "] ".utf8)
        Self.appendEscaped(message, to: &out)
        out.append(UInt8(ascii: "\n"))
        return out
    }

    /// Appends `text`, its control characters escaped; most text has none and is copied as is.
    static func appendEscaped(_ text: String, to out: inout [UInt8]) {
        let utf8 = text.utf8
        // C0 and DEL are single bytes; C1 (U+0080–U+009F) is 0xC2 followed by 0x80–0x9F.
        guard utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == 0xC2 }) else {
            out.append(contentsOf: utf8)
            return
        }
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x0A: out.append(contentsOf: "\\n".utf8)
            case 0x0D: out.append(contentsOf: "\\r".utf8)
            case 0x09: out.append(contentsOf: "\\t".utf8)
            case 0x00..<0x20, 0x7F, 0x80..<0xA0:
                out.append(contentsOf: "\\u{".utf8)
                let hex = String(scalar.value, radix: 16, uppercase: true)
                if hex.count < 2 { out.append(UInt8(ascii: "0")) }
                out.append(contentsOf: hex.utf8)
                out.append(UInt8(ascii: "}"))
            default:
                out.append(contentsOf: String(scalar).utf8)
            }
        }
    }

    /// A metadata value as swift-log's `description` writes it: strings bare at the top level
    /// and quoted inside arrays and dictionaries; credentials inside dictionaries redacted too.
    private static func append(_ value: Logger.MetadataValue, quoted: Bool, to out: inout [UInt8]) {
        switch value {
        case .string(let text):
            Self.appendEscaped(quoted ? text.debugDescription : text, to: &out)
        case .stringConvertible(let convertible):
            let text = convertible.description
            Self.appendEscaped(quoted ? text.debugDescription : text, to: &out)
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
                Self.appendEscaped(key.debugDescription, to: &out)
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
