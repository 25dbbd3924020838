public import Foundation

/// An ISO 8601 duration as the API takes them: `PT5M`, `P30D`, `P1M`, `PT0S`, `P1DT12H`.
///
/// Years and months are calendar units (a month is not 30 days), so they are kept apart from the
/// fixed units and applied with the Gregorian calendar in UTC by ``adding(to:)``. Negative
/// durations, the alternative `PYYYY-MM-DD` format and fractions anywhere but in seconds are
/// rejected: none of them makes sense for a schedule or a grace period.
public struct ISODuration: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Calendar years.
    public var years: Int
    /// Calendar months.
    public var months: Int
    /// Fixed-length part: weeks, days, hours, minutes and seconds, in seconds.
    public var seconds: Double

    /// A duration of calendar months/years plus fixed seconds.
    public init(years: Int = 0, months: Int = 0, seconds: Double = 0) {
        self.years = years
        self.months = months
        self.seconds = seconds
    }

    /// Zero (`PT0S`).
    public static let zero = ISODuration()

    /// Why a text is not a duration.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        /// What was wrong, phrased to follow the field name ("must be ...").
        public var description: String
    }

    /// Parses `text`; throws a ``ParseError`` saying what is wrong.
    public init(parsing text: String) throws(ParseError) {
        let invalid = ParseError(description: "must be an ISO 8601 duration such as PT5M, P30D or P1DT12H")
        // Byte by byte: the text is ASCII when valid, and walking it as Characters (grapheme
        // breaking) cost more than the rest of reading a job's row.
        let bytes = text.utf8
        guard bytes.first == UInt8(ascii: "P"), bytes.count > 1 else { throw invalid }

        var years = 0, months = 0
        var fixed = 0.0
        var inTime = false
        var sawTimeComponent = false
        var lastRank = -1
        var number: [UInt8] = []
        for byte in bytes.dropFirst() {
            if byte == UInt8(ascii: "T") {
                guard !inTime, number.isEmpty else { throw invalid }
                inTime = true
                lastRank = 3
                continue
            }
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."):
                number.append(byte)
                continue
            case UInt8(ascii: ","):
                number.append(UInt8(ascii: "."))
                continue
            default:
                break
            }
            // Units must come in order, each at most once, with a number before them.
            let rank: Int
            switch (byte, inTime) {
            case (UInt8(ascii: "Y"), false): rank = 0
            case (UInt8(ascii: "M"), false): rank = 1
            case (UInt8(ascii: "W"), false): rank = 2
            case (UInt8(ascii: "D"), false): rank = 3
            case (UInt8(ascii: "H"), true): rank = 4
            case (UInt8(ascii: "M"), true): rank = 5
            case (UInt8(ascii: "S"), true): rank = 6
            default: throw invalid
            }
            guard rank > lastRank, !number.isEmpty, number.first != UInt8(ascii: "."), number.last != UInt8(ascii: ".") else { throw invalid }
            lastRank = rank
            let isFraction = number.contains(UInt8(ascii: "."))
            guard !isFraction || rank == 6, let value = Double(String(decoding: number, as: UTF8.self)), value.isFinite else { throw invalid }
            guard value <= 1_000_000_000 else {
                throw ParseError(description: "is too long a duration")
            }
            switch rank {
            case 0: years = Int(value)
            case 1: months = Int(value)
            case 2: fixed += value * 604_800
            case 3: fixed += value * 86_400
            case 4: fixed += value * 3_600
            case 5: fixed += value * 60
            default: fixed += value
            }
            if inTime { sawTimeComponent = true }
            number.removeAll(keepingCapacity: true)
        }
        guard number.isEmpty, lastRank >= 0, !inTime || sawTimeComponent else { throw invalid }
        self.init(years: years, months: months, seconds: fixed)
    }

    /// Whether the duration is zero.
    public var isZero: Bool { self.years == 0 && self.months == 0 && self.seconds == 0 }

    /// The length in seconds when it has no calendar part; nil for durations with years or months.
    public var fixedSeconds: Double? { self.years == 0 && self.months == 0 ? self.seconds : nil }

    /// `date` moved forward by this duration: calendar units first (UTC Gregorian), then seconds.
    public func adding(to date: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var result = date
        if self.years != 0 || self.months != 0 {
            result = calendar.date(byAdding: DateComponents(year: self.years, month: self.months), to: result) ?? result
        }
        return result.addingTimeInterval(self.seconds)
    }

    /// The canonical form: `P1Y2M3DT4H5M6S`, `PT0S` for zero. Weeks are written as days.
    public var description: String {
        if self.isZero { return "PT0S" }
        var text = "P"
        if self.years != 0 { text += "\(self.years)Y" }
        if self.months != 0 { text += "\(self.months)M" }
        var remaining = self.seconds
        let days = Int(remaining / 86_400)
        remaining -= Double(days) * 86_400
        if days != 0 { text += "\(days)D" }
        let hours = Int(remaining / 3_600)
        remaining -= Double(hours) * 3_600
        let minutes = Int(remaining / 60)
        remaining -= Double(minutes) * 60
        if hours != 0 || minutes != 0 || remaining > 0 {
            text += "T"
            if hours != 0 { text += "\(hours)H" }
            if minutes != 0 { text += "\(minutes)M" }
            if remaining > 0 {
                text += remaining == remaining.rounded() ? "\(Int(remaining))S" : "\(remaining)S"
            }
        }
        return text
    }

    /// Decodes from the string form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    /// Encodes the canonical string form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }
}
