import Foundation
import RotorCore
import Testing

@Suite struct ISODurationTests {
    @Test("fixed durations parse to seconds", arguments: [
        ("PT0S", 0.0), ("PT5M", 300), ("PT30S", 30), ("PT1H", 3_600), ("P1D", 86_400), ("P30D", 2_592_000),
        ("P1W", 604_800), ("P1DT12H", 129_600), ("PT1H30M15S", 5_415), ("PT0.5S", 0.5), ("PT1,25S", 1.25), ("P0D", 0),
    ])
    func fixed(text: String, seconds: Double) throws {
        let duration = try ISODuration(parsing: text)
        #expect(duration.fixedSeconds == seconds)
    }

    @Test("calendar units stay calendar units and add by the calendar")
    func calendar() throws {
        let monthly = try ISODuration(parsing: "P1M")
        #expect(monthly.fixedSeconds == nil)
        let january31 = Date(timeIntervalSince1970: 1_769_817_600)  // 2026-01-31T00:00:00Z
        let formatter = ISO8601DateFormatter()
        #expect(formatter.string(from: monthly.adding(to: january31)) == "2026-02-28T00:00:00Z")
        let yearAndADay = try ISODuration(parsing: "P1YT24H")
        #expect(formatter.string(from: yearAndADay.adding(to: january31)) == "2027-02-01T00:00:00Z")
    }

    @Test("malformed durations are rejected", arguments: [
        "", "P", "PT", "5M", "pt5m", "P5", "PT5", "P-1D", "PT5M5M", "PT5S5M", "P1H", "PT1D", "P1.5D", "PT.5S", "PT5.S",
        "P1DT", "P2026-01-01", "PT1e3S", "P 1D", "PT5M ", "P99999999999D",
    ])
    func rejects(text: String) {
        #expect(throws: ISODuration.ParseError.self) { try ISODuration(parsing: text) }
    }

    @Test("the canonical form round-trips", arguments: ["PT0S", "PT5M", "P30D", "P1DT12H", "P1Y2M3DT4H5M6S", "PT0.5S"])
    func roundTrip(text: String) throws {
        let duration = try ISODuration(parsing: text)
        #expect(duration.description == text)
        #expect(try ISODuration(parsing: duration.description) == duration)
    }

    @Test("JSON carries the string form; a bad one is a decoding error naming the rule")
    func codable() throws {
        struct Body: Codable { var gracePeriod: ISODuration; enum CodingKeys: String, CodingKey { case gracePeriod = "grace_period" } }
        let body = try JSONDecoder().decode(Body.self, from: Data(#"{"grace_period":"PT5M"}"#.utf8))
        #expect(body.gracePeriod.fixedSeconds == 300)
        #expect(String(decoding: try JSONEncoder().encode(body), as: UTF8.self) == #"{"grace_period":"PT5M"}"#)
        #expect {
            try JSONDecoder().decode(Body.self, from: Data(#"{"grace_period":"five minutes"}"#.utf8))
        } throws: { error in
            guard case DecodingError.dataCorrupted(let context) = error else { return false }
            return context.debugDescription.contains("ISO 8601 duration")
        }
    }
}
