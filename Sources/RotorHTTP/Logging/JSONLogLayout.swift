#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging

/// ``LineLogHandler/Layout/json``: one JSON object per line, for log shippers
/// (`ROTOR_LOG_FORMAT=json`):
///
/// ```json
/// {"timestamp":"2026-11-26T20:31:02.123Z","level":"info","label":"rotor","message":"request","metadata":{"request_id":"req_…","http.status":"200"}}
/// ```
///
/// Metadata is nested under `metadata` so that no key can shadow the fixed fields.
enum JSONLogLayout {
    /// The encoded line for one event, newline included. `timestamp` is Unix seconds and
    /// nanoseconds; `metadata` is sorted by key.
    static func line(
        timestamp: (seconds: Int, nanoseconds: Int),
        level: Logger.Level,
        label: String,
        message: String,
        metadata: [LogLine.Entry]
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(192 + message.utf8.count)
        out.append(contentsOf: #"{"timestamp":""#.utf8)
        Self.appendTimestamp(timestamp, to: &out)
        out.append(contentsOf: #"","level":"#.utf8)
        Self.appendString(level.rawValue, to: &out)
        out.append(contentsOf: #","label":"#.utf8)
        Self.appendString(label, to: &out)
        out.append(contentsOf: #","message":"#.utf8)
        Self.appendString(message, to: &out)
        if !metadata.isEmpty {
            out.append(contentsOf: #","metadata":"#.utf8)
            Self.appendObject(metadata, to: &out)
        }
        out.append(contentsOf: "}\n".utf8)
        return out
    }

    /// A JSON object of `entries`, in their order, credentials redacted.
    private static func appendObject(_ entries: [LogLine.Entry], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (index, (key, value)) in entries.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            Self.appendString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            if LogRedaction.isSensitiveMetadataKey(key) {
                Self.appendString(LineLogHandler.redacted, to: &out)
            } else {
                Self.appendValue(value, to: &out)
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    private static func appendValue(_ value: Logger.Metadata.Value, to out: inout [UInt8]) {
        switch value {
        case .string(let text):
            Self.appendString(text, to: &out)
        case .stringConvertible(let convertible):
            Self.appendString(convertible.description, to: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.appendValue(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .dictionary(let dictionary):
            // Sorted, so that lines are stable and easy to compare.
            Self.appendObject(dictionary.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, to: &out)
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped (RFC 8259 §7),
    /// plus U+2028 and U+2029, which break JavaScript-based log viewers. Other UTF-8 passes as is.
    static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var bytes = text.utf8.makeIterator()
        var pending: [UInt8] = []
        while let byte = bytes.next() {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): out.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): out.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): out.append(contentsOf: #"\t"#.utf8)
            case 0x00..<0x20, 0x7F:
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            case 0xE2:
                // U+2028 / U+2029 are E2 80 A8 / E2 80 A9.
                pending = [byte]
                if let second = bytes.next() {
                    pending.append(second)
                    if second == 0x80, let third = bytes.next() {
                        if third == 0xA8 || third == 0xA9 {
                            out.append(contentsOf: (third == 0xA8 ? #"\u2028"# : #"\u2029"#).utf8)
                            pending = []
                            continue
                        }
                        pending.append(third)
                    }
                }
                out.append(contentsOf: pending)
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `2026-11-26T20:31:02.123Z`: UTC, milliseconds.
    static func appendTimestamp(_ timestamp: (seconds: Int, nanoseconds: Int), to out: inout [UInt8]) {
        var time = time_t(timestamp.seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8((rest / divisor) % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        out.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        out.append(UInt8(ascii: "."))
        digits(timestamp.nanoseconds / 1_000_000, 3)
        out.append(UInt8(ascii: "Z"))
    }
}
