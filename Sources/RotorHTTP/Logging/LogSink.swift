#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// Where finished log lines go: a file descriptor, written in batches by a thread of its own.
///
/// A `write(2)` per line made the access log the largest single cost of a request. Lines are
/// appended to a buffer instead, and written by the sink's thread within `flushInterval` of the
/// first line that found the buffer empty, so a busy server writes a few hundred lines per call
/// and an idle one makes no calls at all. Lines never interleave or reorder.
///
/// A caller never writes to the descriptor itself: a log line may be logged from any of Swift's
/// few cooperative threads, and a descriptor that stops draining (a paused pipe, a stalled
/// journal) would block that thread and with it the server (STYLE.md rule 9). What must not wait
/// (lines logged with `urgent`, which ``LineLogHandler`` passes for `warning` and above, and
/// whatever fills the buffer past `capacity`) wakes the thread at once instead of after the
/// interval. If the descriptor stops draining, the buffer grows to 8 MiB (or 16 × `capacity`) and then
/// further lines are dropped and counted; the thread reports how many, in a line of its own,
/// once it can write again. ``standardError`` is also flushed when the process exits normally.
/// A `kill -9` loses at most the last `flushInterval` of lines below `warning`.
public final class LogSink: Sendable {
    /// Standard error, flushed every 10 ms and at exit.
    public static let standardError: LogSink = {
        let sink = LogSink(fileDescriptor: 2)
        atexit { LogSink.standardError.flush() }
        return sink
    }()

    /// What the writer thread waits on. A class of its own so that the thread holds it, not
    /// the sink, and the sink's `deinit` can end the thread.
    private final class Signal: Sendable {
        private struct State {
            var pending = false
            var urgent = false
            var closed = false
        }

        private let condition = NSCondition()
        // `nonisolated(unsafe)`: every access holds `condition`'s lock.
        private nonisolated(unsafe) var state = State()

        func raise(urgent: Bool) {
            self.condition.lock()
            self.state.pending = true
            if urgent { self.state.urgent = true }
            self.condition.unlock()
            self.condition.signal()
        }

        func close() {
            self.condition.lock()
            self.state.closed = true
            self.condition.unlock()
            self.condition.signal()
        }

        /// Returns when lines are due: `interval` after the first pending line, or at once for an
        /// urgent one; false once closed.
        func waitForLines(interval: TimeInterval) -> Bool {
            self.condition.lock()
            defer { self.condition.unlock() }
            while !self.state.pending {
                if self.state.closed { return false }
                self.condition.wait()
            }
            if !self.state.urgent {
                let due = Date(timeIntervalSinceNow: interval)
                while !self.state.urgent, !self.state.closed, self.condition.wait(until: due) {}
            }
            self.state.pending = false
            self.state.urgent = false
            return true
        }
    }

    private let fileDescriptor: Int32
    private let capacity: Int
    /// The most bytes buffered while the descriptor is not draining; past it lines are dropped.
    private let bound: Int
    private let buffer = Mutex<[UInt8]>([])
    /// Lines dropped since the last write because the descriptor was not draining.
    private let dropped = Atomic(0)
    /// Held while a batch is written, so that batches reach the descriptor in the order they
    /// were taken from the buffer.
    private let writing = Mutex(())
    private let signal = Signal()

    /// A sink writing to `fileDescriptor` (not closed by the sink), with a background thread
    /// that writes buffered lines `flushInterval` after the first of them arrives.
    public init(fileDescriptor: Int32, flushInterval: Duration = .milliseconds(10), capacity: Int = 64 * 1024) {
        self.fileDescriptor = fileDescriptor
        self.capacity = capacity
        self.bound = max(16 * capacity, 8 << 20)
        let (seconds, attoseconds) = flushInterval.components
        let interval = max(0, Double(seconds) + Double(attoseconds) / 1e18)
        let thread = Thread { [weak self, signal = self.signal] in
            // Named from inside: on Linux, Foundation drops a name given before `start()`.
            Thread.current.name = "rotor.log"
            while signal.waitForLines(interval: interval) {
                guard let self else { return }
                self.flush()
            }
        }
        thread.start()
    }

    deinit {
        self.signal.close()
    }

    /// Appends one finished line (newline included); with `urgent`, has it written now, after
    /// everything before it. Never waits for the descriptor.
    public func write(_ line: [UInt8], urgent: Bool = false) {
        let outcome = self.buffer.withLock { buffer -> (wasEmpty: Bool, size: Int)? in
            guard buffer.count < self.bound else { return nil }
            let wasEmpty = buffer.isEmpty
            buffer.append(contentsOf: line)
            return (wasEmpty, buffer.count)
        }
        guard let outcome else {
            self.dropped.wrappingAdd(1, ordering: .relaxed)
            return
        }
        if urgent || outcome.size >= self.capacity {
            self.signal.raise(urgent: true)
        } else if outcome.wasEmpty {
            self.signal.raise(urgent: false)
        }
    }

    /// Writes everything buffered so far, and returns once it has been handed to the
    /// descriptor. The sink's thread calls it; so does the process's exit, and tests.
    public func flush() {
        self.writing.withLock { _ in
            var batch = self.buffer.withLock { buffer in
                let batch = buffer
                buffer.removeAll(keepingCapacity: true)
                return batch
            }
            let dropped = self.dropped.exchange(0, ordering: .relaxed)
            if dropped > 0 {
                batch.append(contentsOf: "rotor: \(dropped) log line(s) dropped: the log output was not being read fast enough\n".utf8)
            }
            guard !batch.isEmpty else { return }
            batch.withUnsafeBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = Self.systemWrite(self.fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return  // Nowhere left to report a failing log descriptor.
                    }
                    offset += written
                }
            }
        }
    }

    private static func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
        #if canImport(Darwin)
        Darwin.write(descriptor, bytes, count)
        #elseif canImport(Musl)
        Musl.write(descriptor, bytes, count)
        #else
        Glibc.write(descriptor, bytes, count)
        #endif
    }
}
