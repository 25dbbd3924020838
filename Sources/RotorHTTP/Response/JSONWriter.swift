public import Foundation
public import NIOCore

/// Writes a JSON text straight into a `ByteBuffer`, for the answers read often enough that
/// `JSONEncoder`'s generic machinery is a sixth of their cost (`GET /v1/jobs/{id}`, which callers
/// poll). It writes what `JSONCoding.encoder` would: the same members, `null` for an absent
/// value, dates as ISO 8601 in UTC to the second, strings escaped as JSON requires. A model that
/// uses it keeps its `Encodable` conformance, and a test holds the two to the same output.
public struct JSONWriter {
    /// The text so far.
    public private(set) var buffer: ByteBuffer
    /// Per open object or array: whether a member was written (so the next needs a comma).
    private var written: [Bool] = []

    /// An empty text.
    public init(capacity: Int = 1024) {
        self.buffer = ByteBuffer()
        self.buffer.reserveCapacity(capacity)
    }

    /// `{`, then members until ``endObject()``.
    public mutating func beginObject() {
        self.separate()
        self.buffer.writeInteger(UInt8(ascii: "{"))
        self.written.append(false)
    }

    /// `}`.
    public mutating func endObject() {
        self.written.removeLast()
        self.buffer.writeInteger(UInt8(ascii: "}"))
    }

    /// `[`, then values until ``endArray()``.
    public mutating func beginArray() {
        self.separate()
        self.buffer.writeInteger(UInt8(ascii: "["))
        self.written.append(false)
    }

    /// `]`.
    public mutating func endArray() {
        self.written.removeLast()
        self.buffer.writeInteger(UInt8(ascii: "]"))
    }

    /// A member's name; its value follows.
    public mutating func key(_ name: StaticString) {
        self.separate()
        self.buffer.writeInteger(UInt8(ascii: "\""))
        self.buffer.writeStaticString(name)
        self.buffer.writeStaticString("\":")
        // The value that follows is this member's: no comma before it.
        self.pendingValue = true
    }

    /// Whether a key was just written, so the value needs no comma.
    private var pendingValue = false

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// A string, or `null`.
    public mutating func string(_ value: String?) {
        self.separate()
        guard let value else {
            self.buffer.writeStaticString("null")
            return
        }
        self.buffer.writeInteger(UInt8(ascii: "\""))
        var run = value.utf8.startIndex
        let utf8 = value.utf8
        var index = run
        while index != utf8.endIndex {
            let byte = utf8[index]
            let escape: StaticString? =
                switch byte {
                case UInt8(ascii: "\""): "\\\""
                case UInt8(ascii: "\\"): "\\\\"
                case 0x0A: "\\n"
                case 0x0D: "\\r"
                case 0x09: "\\t"
                case 0x08: "\\b"
                case 0x0C: "\\f"
                default: nil
                }
            if escape != nil || byte < 0x20 {
                self.buffer.writeBytes(utf8[run..<index])
                if let escape {
                    self.buffer.writeStaticString(escape)
                } else {
                    self.buffer.writeStaticString("\\u00")
                    self.buffer.writeInteger(Self.hexDigits[Int(byte >> 4)])
                    self.buffer.writeInteger(Self.hexDigits[Int(byte & 0x0F)])
                }
                run = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        self.buffer.writeBytes(utf8[run..<utf8.endIndex])
        self.buffer.writeInteger(UInt8(ascii: "\""))
    }

    /// An integer.
    public mutating func int(_ value: Int) {
        self.separate()
        self.buffer.writeString(String(value))
    }

    /// `true` or `false`.
    public mutating func bool(_ value: Bool) {
        self.separate()
        self.buffer.writeStaticString(value ? "true" : "false")
    }

    /// A value encoded earlier, whole: its bytes are copied as they are.
    public mutating func encoded(_ json: ByteBuffer) {
        self.separate()
        self.buffer.writeImmutableBuffer(json)
    }

    /// `null`.
    public mutating func null() {
        self.separate()
        self.buffer.writeStaticString("null")
    }

    /// A date as `JSONEncoder`'s `.iso8601` writes it (`2026-12-02T14:15:35Z`: UTC, whole
    /// seconds, the fraction dropped), or `null`.
    public mutating func date(_ value: Date?) {
        guard let value else { return self.null() }
        self.separate()
        var seconds = time_t(value.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        self.buffer.writeInteger(UInt8(ascii: "\""))
        self.digits(Int(parts.tm_year) + 1900, width: 4)
        self.buffer.writeInteger(UInt8(ascii: "-"))
        self.digits(Int(parts.tm_mon) + 1, width: 2)
        self.buffer.writeInteger(UInt8(ascii: "-"))
        self.digits(Int(parts.tm_mday), width: 2)
        self.buffer.writeInteger(UInt8(ascii: "T"))
        self.digits(Int(parts.tm_hour), width: 2)
        self.buffer.writeInteger(UInt8(ascii: ":"))
        self.digits(Int(parts.tm_min), width: 2)
        self.buffer.writeInteger(UInt8(ascii: ":"))
        self.digits(Int(parts.tm_sec), width: 2)
        self.buffer.writeStaticString("Z\"")
    }

    /// `number` (0 ... 9999) in decimal, zero-padded to `width` digits.
    private mutating func digits(_ number: Int, width: Int) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = number
        while divisor > 0 {
            self.buffer.writeInteger(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            rest %= divisor
            divisor /= 10
        }
    }

    /// Writes the comma before a value or member when one came before it.
    private mutating func separate() {
        if self.pendingValue {
            self.pendingValue = false
            return
        }
        guard !self.written.isEmpty else { return }
        if self.written[self.written.count - 1] { self.buffer.writeInteger(UInt8(ascii: ",")) }
        self.written[self.written.count - 1] = true
    }
}
