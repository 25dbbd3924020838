/// Reads the JSON text ``RowCoding`` stores for a job's small nested records (its trigger, keys,
/// targets and error) without `JSONDecoder`.
///
/// Why: those columns are read on every `GET /v1/jobs/{id}`, and `JSONDecoder`'s generic
/// machinery cost more than the rest of the row (a tenth of the route's CPU). The records are flat:
/// an object of strings, numbers, booleans and nulls, or an array of such objects. Anything else
/// (a nested value, text that is not JSON) makes the reader throw; ``RowCoding`` then decodes the
/// column with `JSONDecoder` as before, so that a shape this reader does not know is read the one
/// way it always was. A test holds the two to the same values.
package struct FlatJSON {
    /// A value in a flat object.
    package enum Scalar: Equatable, Sendable {
        case string(String)
        /// A number, as its text: read as a `Double` or an `Int` by the field that wants it.
        case number(Substring)
        case bool(Bool)
        case null
    }

    /// An object of scalars, in the order its members appear.
    package struct Object: Sendable {
        package var members: [(name: String, value: Scalar)]

        /// Throws unless every member is one of `names`: a record read field by field must not
        /// drop a member its reader does not know (one added later is then read by `JSONDecoder`).
        package func expectOnly(_ names: Set<String>) throws {
            for member in self.members where !names.contains(member.name) { throw FlatJSON.Mismatch() }
        }

        /// The value of `name`, nil when the object has no such member.
        package subscript(name: String) -> Scalar? {
            for member in self.members where member.name == name { return member.value }
            return nil
        }

        /// The string in `name`.
        package func string(_ name: String) throws -> String {
            guard case .string(let text)? = self[name] else { throw FlatJSON.Mismatch() }
            return text
        }

        /// The string in `name`; nil when it is null or absent (how `JSONEncoder` leaves out nil).
        package func optionalString(_ name: String) throws -> String? {
            switch self[name] {
            case .string(let text)?: return text
            case .null?, nil: return nil
            default: throw FlatJSON.Mismatch()
            }
        }

        /// The number in `name`.
        package func double(_ name: String) throws -> Double {
            guard case .number(let text)? = self[name], let value = Double(text) else { throw FlatJSON.Mismatch() }
            return value
        }

        /// The number in `name`; nil when it is null or absent.
        package func optionalDouble(_ name: String) throws -> Double? {
            switch self[name] {
            case .number(let text)?:
                guard let value = Double(text) else { throw FlatJSON.Mismatch() }
                return value
            case .null?, nil: return nil
            default: throw FlatJSON.Mismatch()
            }
        }

        /// The integer in `name`.
        package func int(_ name: String) throws -> Int {
            guard case .number(let text)? = self[name], let value = Int(text) else { throw FlatJSON.Mismatch() }
            return value
        }
    }

    /// The text does not have the shape this reader handles.
    package struct Mismatch: Error {}

    /// The object that is all of `text`.
    package static func object(_ text: String) throws -> Object {
        try Self.parse(text) { reader in try reader.object() }
    }

    /// The array of objects that is all of `text`.
    package static func objects(_ text: String) throws -> [Object] {
        try Self.parse(text) { reader in
            var objects: [Object] = []
            try reader.expect(UInt8(ascii: "["))
            if try reader.consume(UInt8(ascii: "]")) { return objects }
            repeat {
                objects.append(try reader.object())
            } while try reader.consume(UInt8(ascii: ","))
            try reader.expect(UInt8(ascii: "]"))
            return objects
        }
    }

    private static func parse<T>(_ text: String, _ body: (inout Reader) throws -> T) throws -> T {
        var text = text
        return try text.withUTF8 { bytes in
            var reader = Reader(bytes: bytes)
            let value = try body(&reader)
            reader.skipSpace()
            guard reader.index == bytes.count else { throw Mismatch() }
            return value
        }
    }

    /// A cursor over the bytes of one JSON text.
    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        mutating func skipSpace() {
            while self.index < self.bytes.count {
                switch self.bytes[self.index] {
                case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): self.index += 1
                default: return
                }
            }
        }

        /// Whether the next byte (after space) is `byte`; consumes it if so.
        mutating func consume(_ byte: UInt8) throws -> Bool {
            self.skipSpace()
            guard self.index < self.bytes.count else { throw Mismatch() }
            guard self.bytes[self.index] == byte else { return false }
            self.index += 1
            return true
        }

        mutating func expect(_ byte: UInt8) throws {
            guard try self.consume(byte) else { throw Mismatch() }
        }

        mutating func object() throws -> Object {
            var members: [(name: String, value: Scalar)] = []
            members.reserveCapacity(4)
            try self.expect(UInt8(ascii: "{"))
            if try self.consume(UInt8(ascii: "}")) { return Object(members: members) }
            repeat {
                try self.expect(UInt8(ascii: "\""))
                let name = try self.stringBody()
                try self.expect(UInt8(ascii: ":"))
                members.append((name, try self.scalar()))
            } while try self.consume(UInt8(ascii: ","))
            try self.expect(UInt8(ascii: "}"))
            return Object(members: members)
        }

        mutating func scalar() throws -> Scalar {
            self.skipSpace()
            guard self.index < self.bytes.count else { throw Mismatch() }
            switch self.bytes[self.index] {
            case UInt8(ascii: "\""):
                self.index += 1
                return .string(try self.stringBody())
            case UInt8(ascii: "t"):
                try self.literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try self.literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try self.literal("null")
                return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return .number(self.numberText())
            default:
                throw Mismatch()  // a nested object or array
            }
        }

        mutating func literal(_ word: StaticString) throws {
            let count = word.utf8CodeUnitCount
            guard self.index + count <= self.bytes.count else { throw Mismatch() }
            for offset in 0..<count where self.bytes[self.index + offset] != word.utf8Start[offset] { throw Mismatch() }
            self.index += count
        }

        /// The number's text; `Double(_:)` or `Int(_:)` checks its syntax.
        mutating func numberText() -> Substring {
            let start = self.index
            while self.index < self.bytes.count {
                switch self.bytes[self.index] {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
                    UInt8(ascii: "e"), UInt8(ascii: "E"):
                    self.index += 1
                default:
                    return Substring(String(decoding: UnsafeBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self))
                }
            }
            return Substring(String(decoding: UnsafeBufferPointer(rebasing: self.bytes[start...]), as: UTF8.self))
        }

        /// The rest of a string whose opening quote was consumed, through its closing quote.
        mutating func stringBody() throws -> String {
            let start = self.index
            while self.index < self.bytes.count {
                let byte = self.bytes[self.index]
                if byte == UInt8(ascii: "\"") {
                    defer { self.index += 1 }
                    return String(decoding: UnsafeBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self)
                }
                if byte == UInt8(ascii: "\\") { return try self.escapedStringBody(from: start) }
                guard byte >= 0x20 else { throw Mismatch() }  // control characters must be escaped
                self.index += 1
            }
            throw Mismatch()
        }

        /// A string with escapes, from `start` (just after its opening quote).
        mutating func escapedStringBody(from start: Int) throws -> String {
            var utf8 = Array(self.bytes[start..<self.index])
            while self.index < self.bytes.count {
                let byte = self.bytes[self.index]
                self.index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(decoding: utf8, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard self.index < self.bytes.count else { throw Mismatch() }
                    let escaped = self.bytes[self.index]
                    self.index += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escaped)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"): utf8.append(contentsOf: try self.unicodeEscape())
                    default: throw Mismatch()
                    }
                default:
                    guard byte >= 0x20 else { throw Mismatch() }
                    utf8.append(byte)
                }
            }
            throw Mismatch()
        }

        /// The UTF-8 of a `\uXXXX` escape (its `\u` consumed), joining a surrogate pair.
        mutating func unicodeEscape() throws -> [UInt8] {
            let high = try self.hex4()
            var value = UInt32(high)
            if (0xD800..<0xDC00).contains(high) {
                guard try self.literalIfPresent("\\u") else { throw Mismatch() }
                let low = try self.hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw Mismatch() }
                value = 0x10000 + ((UInt32(high) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            } else if (0xDC00..<0xE000).contains(high) {
                throw Mismatch()
            }
            guard let scalar = Unicode.Scalar(value) else { throw Mismatch() }
            return Array(String(Character(scalar)).utf8)
        }

        mutating func literalIfPresent(_ word: StaticString) throws -> Bool {
            let count = word.utf8CodeUnitCount
            guard self.index + count <= self.bytes.count else { return false }
            for offset in 0..<count where self.bytes[self.index + offset] != word.utf8Start[offset] { return false }
            self.index += count
            return true
        }

        mutating func hex4() throws -> UInt16 {
            guard self.index + 4 <= self.bytes.count else { throw Mismatch() }
            var value: UInt16 = 0
            for _ in 0..<4 {
                let byte = self.bytes[self.index]
                self.index += 1
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw Mismatch()
                }
                value = value << 4 | UInt16(digit)
            }
            return value
        }
    }
}
