import Foundation
import RotorCore

/// The durations `rotor agent` reads from flags, the environment and its config file: `500ms`,
/// `5s`, `2m`, `1h`, a bare number of seconds, or ISO 8601 (`PT60S`), as the API writes them.
package enum AgentDuration {
    /// The duration `text` names, or nil when it names none (or a calendar one, such as `P1M`).
    package static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("P") || trimmed.hasPrefix("p") {
            guard let iso = try? ISODuration(parsing: trimmed.uppercased()), let seconds = iso.fixedSeconds, seconds >= 0 else { return nil }
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
        let units: [(suffix: String, milliseconds: Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("", 1000)]
        for unit in units where trimmed.hasSuffix(unit.suffix) {
            guard let number = Double(trimmed.dropLast(unit.suffix.count)), number.isFinite, number >= 0 else { continue }
            return .milliseconds(Int64((number * unit.milliseconds).rounded()))
        }
        return nil
    }

    /// `PT60S`, `PT0.5S`: how the key route's `wait` takes it.
    package static func iso(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "PT\(milliseconds / 1000)S" : "PT\(Double(milliseconds) / 1000)S"
    }

    /// `5s`, `1.5s`: for log lines and messages.
    package static func text(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(Double(milliseconds) / 1000)s"
    }
}
