import Foundation
import Testing
@testable import rotor

/// How the operator commands print for people: short ages, aligned columns.
struct PrinterTests {
    @Test("ages are short: seconds, minutes, hours, then days", arguments: [(45, "45s"), (720, "12m"), (10_800, "3h"), (86_399, "23h"), (259_200, "3d"), (-5, "0s")])
    func ages(seconds: Int64, text: String) {
        #expect(Age.text(seconds) == text)
    }

    @Test("until: in 3d for what is to come, 2h ago for what is overdue; - for nothing")
    func until() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(Age.until(now.addingTimeInterval(3 * 86_400), now: now) == "in 3d")
        #expect(Age.until(now.addingTimeInterval(-7_200), now: now) == "2h ago")
        #expect(Age.until(nil, now: now) == "-")
        #expect(Age.since(now.addingTimeInterval(-90), now: now) == "1m")
    }

    @Test("tables align every column to its widest cell, with no trailing blanks; an empty one says (none)")
    func table() {
        let out = Printer(format: .table)
        let lines = out.table(["NAME", "STATE", "NOTE"], [["sandbox", "active", ""], ["a", "attention", "last job failed"]])
        #expect(lines == ["NAME     STATE      NOTE", "sandbox  active", "a        attention  last job failed"])
        #expect(out.table(["NAME"], []) == ["(none)"])
        #expect(out.fields([("name", "x"), ("labels", ""), ("absent", nil)]) == ["name:   x", "labels: none"])
    }
}
