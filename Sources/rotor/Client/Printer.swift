import Foundation
import RotorClient

/// Writes the commands' output: tables with ages for people, the API's JSON for scripts, and
/// failures on stderr. Colour only on a terminal, and never when NO_COLOR is set.
struct Printer: Sendable {
    let format: OutputFormat
    /// Whether stdout is a terminal.
    let isTerminal: Bool
    let colour: Bool

    init(format: OutputFormat) {
        self.format = format
        self.isTerminal = isatty(STDOUT_FILENO) == 1
        let environment = ProcessInfo.processInfo.environment
        self.colour = self.isTerminal && environment["NO_COLOR"] == nil && environment["TERM"] != "dumb"
    }

    /// Unbuffered, so lines come as they happen even into a pipe.
    func line(_ text: String = "") {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// The API's JSON as it came (its keys are sorted, so the bytes are stable).
    func json(_ data: Data) {
        guard !data.isEmpty else { return }
        FileHandle.standardOutput.write(data)
        if data.last != UInt8(ascii: "\n") { FileHandle.standardOutput.write(Data("\n".utf8)) }
    }

    /// `json` in JSON mode, else `table()`'s lines.
    func show(_ data: Data, _ table: () -> [String]) {
        switch self.format {
        case .json: self.json(data)
        case .table: table().forEach { self.line($0) }
        }
    }

    /// Columns padded to their widest cell; the header underlined by nothing, so `awk` can cut it.
    /// `paint` colours a cell after it is padded, so escape codes do not count as width.
    func table(_ header: [String], _ rows: [[String]], paint: [Int: (String) -> Style] = [:]) -> [String] {
        guard !rows.isEmpty else { return ["(none)"] }
        var widths = header.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }
        func render(_ cells: [String], painting: Bool) -> String {
            cells.enumerated().map { column, cell in
                let padded = column == cells.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                guard painting, let style = paint[column]?(cell) else { return padded }
                return self.paint(padded, style)
            }.joined(separator: "  ").replacing(#/ +$/#, with: "")
        }
        return [render(header, painting: false)] + rows.map { render($0, painting: true) }
    }

    /// `name: value` lines, names aligned.
    func fields(_ pairs: [(String, String?)]) -> [String] {
        let present = pairs.compactMap { name, value in value.map { (name, $0.isEmpty ? "none" : $0) } }
        let width = present.map(\.0.count).max() ?? 0
        return present.map { "\(($0.0 + ":").padding(toLength: width + 1, withPad: " ", startingAt: 0)) \($0.1)" }
    }

    /// ANSI colours for a few words that matter.
    enum Style: String {
        case good = "32", bad = "31", busy = "33", plain = "0"
    }

    func paint(_ text: String, _ style: Style) -> String {
        guard self.colour, style != .plain else { return text }
        return "\u{1B}[\(style.rawValue)m\(text)\u{1B}[0m"
    }

    /// The style of a job's or a credential's state.
    static func style(ofState state: String) -> Style {
        switch state {
        case "succeeded", "active": .good
        case "failed", "rolled_back", "attention", "cancelled": .bad
        case "running", "queued", "rotating": .busy
        default: .plain
        }
    }

    /// A failure on stderr: the problem's title, its detail, and each field error on its own line.
    func fail(_ error: RotorClientError) {
        var lines: [String]
        switch error {
        case .unreachable(let reason):
            lines = ["rotor: Rotor is unreachable: \(reason)"]
        case .timedOut(let limit):
            lines = ["rotor: Rotor did not answer within \(Age.text(limit.components.seconds))."]
        case .refused(let status, let problem):
            lines = ["rotor: \(problem.title ?? "Request failed") (\(status)\(problem.code.map { " \($0)" } ?? ""))"]
            if let detail = problem.detail { lines.append("  \(detail)") }
            for field in problem.errors ?? [] { lines.append("  \(field.field ?? "?"): \(field.message ?? "")") }
        case .unexpected(let reason):
            lines = ["rotor: \(reason)"]
        }
        FileHandle.standardError.write(Data(lines.map { $0 + "\n" }.joined().utf8))
    }
}

/// Short ages and durations for tables: `45s`, `12m`, `3h`, `3d`.
enum Age {
    static func text(_ seconds: Int64) -> String {
        let seconds = max(0, seconds)
        switch seconds {
        case ..<60: return "\(seconds)s"
        case ..<3_600: return "\(seconds / 60)m"
        case ..<86_400: return "\(seconds / 3_600)h"
        default: return "\(seconds / 86_400)d"
        }
    }

    /// How long ago `date` was.
    static func since(_ date: Date?, now: Date = Date()) -> String {
        guard let date else { return "-" }
        return self.text(Int64(now.timeIntervalSince(date)))
    }

    /// `in 3d`, or `3d ago` (overdue) for a date already past.
    static func until(_ date: Date?, now: Date = Date()) -> String {
        guard let date else { return "-" }
        let seconds = Int64(date.timeIntervalSince(now))
        return seconds >= 0 ? "in \(self.text(seconds))" : "\(self.text(-seconds)) ago"
    }
}
