import ArgumentParser
import Foundation
import RotorClient
import Synchronization

/// `--follow`: prints a job's steps as they happen, from the events long-poll
/// (`GET /v1/jobs/{id}/events?after=&wait=`), which answers when the job moves; no polling.
/// Into a pipe or file, one line per event; on a terminal, those lines plus a live line with the
/// job's step and elapsed time. Throws ``ExitCode`` 1 unless the job succeeded.
struct JobFollower {
    let client: RotorClient
    let out: Printer
    /// The longest wait the API allows.
    static let wait = Duration.seconds(60)

    func follow(_ id: String) async throws {
        let started = ContinuousClock.now
        let live = self.out.isTerminal && self.out.format == .table ? LiveLine(out: self.out, started: started) : nil
        var seen = 0
        var job: JobSummary
        var json: Data
        repeat {
            let events = try await self.client.fetch(
                Page<JobEventSummary>.self, .listJobEvents, id: id, query: [("after", "\(seen)"), ("wait", "PT60S")], waiting: Self.wait
            ).value.data
            (job, json) = try await self.client.fetch(JobSummary.self, .getJob, id: id)
            // Events that landed between the two reads are read at the next turn, or below.
            if job.isTerminal {
                let rest = try await self.client.fetch(Page<JobEventSummary>.self, .listJobEvents, id: id, query: [("after", "\(seen)")]).value.data
                seen = self.print(events + rest.filter { event in !events.contains { $0.seq == event.seq } }, live: live, seen: seen)
            } else {
                seen = self.print(events, live: live, seen: seen)
                live?.update(step: job.step)
            }
        } while !job.isTerminal
        live?.stop()
        let elapsed = Age.text(started.duration(to: .now).components.seconds)
        switch self.out.format {
        case .json:
            self.out.json(json)
        case .table:
            let outcome = self.out.paint(job.state, Printer.style(ofState: job.state))
            self.out.line("\(job.id) \(outcome) after \(elapsed)" + (job.error.map { ": \($0.message) (\($0.code) in \($0.step ?? job.step))" } ?? ""))
        }
        if job.state != "succeeded" {
            if let error = job.error, self.out.format == .json {
                FileHandle.standardError.write(Data("rotor: job \(job.id) \(job.state): \(error.message)\n".utf8))
            }
            throw ExitCode(1)
        }
    }

    /// Prints the events not yet seen; returns the last `seq` seen.
    private func print(_ events: [JobEventSummary], live: LiveLine?, seen: Int) -> Int {
        var seen = seen
        for event in events.sorted(by: { $0.seq < $1.seq }) where event.seq > seen {
            seen = event.seq
            guard self.out.format == .table else { continue }
            let time = ISO8601DateFormatter.string(from: event.at, timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withTime, .withColonSeparatorInTime])
            let text = "\(time)  \((event.step ?? "-").padding(toLength: 10, withPad: " ", startingAt: 0))  \(event.type.padding(toLength: 18, withPad: " ", startingAt: 0))  \(event.message)"
            if let live { live.print(text) } else { self.out.line(text) }
        }
        return seen
    }
}

/// The terminal's last line: the job's step and the time since it started, redrawn each second
/// (a display clock only: what the job does comes from the long-poll).
final class LiveLine: Sendable {
    private let out: Printer
    private let started: ContinuousClock.Instant
    private let state = Mutex(LiveState())
    private struct LiveState { var step = "queued"; var ticker: Task<Void, Never>? }

    init(out: Printer, started: ContinuousClock.Instant) {
        self.out = out
        self.started = started
        let ticker = Task { [weak self] in
            while !Task.isCancelled {
                self?.draw()
                try? await Task.sleep(for: .seconds(1))
            }
        }
        self.state.withLock { $0.ticker = ticker }
    }

    func update(step: String) {
        self.state.withLock { $0.step = step }
        self.draw()
    }

    /// A line above the live one.
    func print(_ text: String) {
        FileHandle.standardOutput.write(Data("\r\u{1B}[2K\(text)\n".utf8))
        self.draw()
    }

    func stop() {
        self.state.withLock { $0.ticker?.cancel() }
        FileHandle.standardOutput.write(Data("\r\u{1B}[2K".utf8))
    }

    private func draw() {
        let step = self.state.withLock { $0.step }
        let elapsed = Age.text(self.started.duration(to: .now).components.seconds)
        FileHandle.standardOutput.write(Data("\r\u{1B}[2K\(self.out.paint("…", .busy)) \(step)  \(elapsed)".utf8))
    }
}
