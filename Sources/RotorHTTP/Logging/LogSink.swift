#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation
import Synchronization

/// Where finished log lines go: a file descriptor, written in batches.
///
/// A `write(2)` per line made the access log the largest single cost of a request. Lines are
/// appended to a buffer instead, and written by a background thread within `flushInterval` of
/// the first line that found the buffer empty, so a busy server writes a few hundred lines per
/// call and an idle one makes no calls at all. Lines never interleave or reorder.
///
/// What must not wait is written at once, together with everything buffered before it: lines
/// logged with `urgent` (``LineLogHandler`` passes `warning` and above), and
/// whatever fills the buffer past `capacity` (so a flood of lines waits for the descriptor, as it
/// did with one write per line, instead of growing memory). ``standardError`` is also flushed
/// when the process exits normally. A `kill -9` loses at most the last `flushInterval` of
/// lines below `warning`.
public final class LogSink: Sendable {
    /// Standard error, flushed every 10 ms and at exit.
    public static let standardError: LogSink = {
        let sink = LogSink(fileDescriptor: 2)
        atexit { LogSink.standardError.flush() }
        return sink
    }()

    private let fileDescriptor: Int32
    private let capacity: Int
    private let buffer = Mutex<[UInt8]>([])
    /// Held while a batch is written, so that batches reach the descriptor in the order they
    /// were taken from the buffer.
    private let writing = Mutex(())
    /// Signalled when a line lands in an empty buffer; the flusher thread waits on it.
    private let pending = DispatchSemaphore(value: 0)

    /// A sink writing to `fileDescriptor` (not closed by the sink), with a background thread
    /// that writes buffered lines `flushInterval` after the first of them arrives.
    public init(fileDescriptor: Int32, flushInterval: Duration = .milliseconds(10), capacity: Int = 64 * 1024) {
        self.fileDescriptor = fileDescriptor
        self.capacity = capacity
        let (seconds, attoseconds) = flushInterval.components
        let microseconds = max(0, seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
        let thread = Thread { [weak self, pending = self.pending] in
            while true {
                pending.wait()
                usleep(useconds_t(clamping: microseconds))
                guard let self else { return }
                self.flush()
            }
        }
        thread.start()
    }

    deinit {
        // Wakes the flusher thread, which then finds the sink gone and ends.
        self.pending.signal()
    }

    /// Appends one finished line (newline included); with `urgent`, writes it and everything
    /// before it now.
    public func write(_ line: [UInt8], urgent: Bool = false) {
        let (wasEmpty, size) = self.buffer.withLock { buffer in
            let wasEmpty = buffer.isEmpty
            buffer.append(contentsOf: line)
            return (wasEmpty, buffer.count)
        }
        if urgent || size >= self.capacity {
            self.flush()
        } else if wasEmpty {
            self.pending.signal()
        }
    }

    /// Writes everything buffered so far, and returns once it has been handed to the descriptor.
    public func flush() {
        self.writing.withLock { _ in
            let batch = self.buffer.withLock { buffer in
                let batch = buffer
                buffer.removeAll(keepingCapacity: true)
                return batch
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
