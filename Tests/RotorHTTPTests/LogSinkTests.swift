import Foundation
import RotorHTTP
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// ``LogSink``: lines batched, never reordered or interleaved; urgent lines and overflow written
/// at once by the sink's thread; a writer never waits for the descriptor.
@Suite struct LogSinkTests {
    /// A pipe whose read end never blocks.
    final class Pipe {
        let readEnd: Int32
        let writeEnd: Int32

        init() throws {
            var ends: [Int32] = [0, 0]
            try #require(pipe(&ends) == 0)
            self.readEnd = ends[0]
            self.writeEnd = ends[1]
            _ = fcntl(self.readEnd, F_SETFL, fcntl(self.readEnd, F_GETFL) | O_NONBLOCK)
        }

        deinit {
            close(self.readEnd)
            close(self.writeEnd)
        }

        /// Whatever has been written so far.
        func available() -> String { String(decoding: self.availableBytes(), as: UTF8.self) }

        func availableBytes() -> [UInt8] {
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(self.readEnd, &chunk, chunk.count)
                guard count > 0 else { break }
                bytes.append(contentsOf: chunk[..<count])
            }
            return bytes
        }
    }

    private func line(_ text: String) -> [UInt8] { Array((text + "\n").utf8) }

    @Test("a line waits for the flush interval, then arrives without being asked for")
    func batched() async throws {
        let pipe = try Pipe()
        let sink = LogSink(fileDescriptor: pipe.writeEnd, flushInterval: .seconds(1))
        sink.write(self.line("first"))
        sink.write(self.line("second"))
        #expect(pipe.available() == "", "written before the interval")
        var received = ""
        let deadline = ContinuousClock.now + .seconds(10)
        while received.count < "first\nsecond\n".count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            received += pipe.available()
        }
        #expect(received == "first\nsecond\n")
        withExtendedLifetime(sink) {}
    }

    /// What arrives on `pipe` within `seconds` (the sink's thread writes it).
    private func arriving(_ pipe: Pipe, _ expected: String, within seconds: Double = 5) async throws -> String {
        var received = ""
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while received.count < expected.count, ContinuousClock.now < deadline {
            received += pipe.available()
            try await Task.sleep(for: .milliseconds(5))
        }
        return received
    }

    @Test("an urgent line is written at once (not after the interval), after everything buffered before it")
    func urgent() async throws {
        let pipe = try Pipe()
        let sink = LogSink(fileDescriptor: pipe.writeEnd, flushInterval: .seconds(60))
        sink.write(self.line("info 1"))
        sink.write(self.line("info 2"))
        sink.write(self.line("error"), urgent: true)
        #expect(try await self.arriving(pipe, "info 1\ninfo 2\nerror\n") == "info 1\ninfo 2\nerror\n")
        sink.write(self.line("info 3"))
        try await Task.sleep(for: .milliseconds(100))
        #expect(pipe.available() == "")
        sink.flush()
        #expect(pipe.available() == "info 3\n")
    }

    @Test("filling the buffer past its capacity has it written at once")
    func overflow() async throws {
        let pipe = try Pipe()
        let sink = LogSink(fileDescriptor: pipe.writeEnd, flushInterval: .seconds(60), capacity: 64)
        let long = String(repeating: "x", count: 40)
        sink.write(self.line(long))
        try await Task.sleep(for: .milliseconds(100))
        #expect(pipe.available() == "")
        sink.write(self.line(long))
        #expect(try await self.arriving(pipe, long + "\n" + long + "\n") == long + "\n" + long + "\n")
    }

    @Test("a descriptor that stops draining never blocks a writer: lines past the bound are dropped and counted", .timeLimit(.minutes(1)))
    func blockedDescriptor() async throws {
        // The pipe closes when the test ends; a write still in flight must not kill the process.
        signal(SIGPIPE, SIG_IGN)
        let pipe = try Pipe()
        // Nobody reads the pipe: once its kernel buffer (64 KiB) is full, the sink's thread blocks.
        let sink = LogSink(fileDescriptor: pipe.writeEnd, flushInterval: .milliseconds(1), capacity: 1024)
        let line = self.line(String(repeating: "z", count: 99))
        let start = ContinuousClock.now
        for _ in 0..<120_000 { sink.write(line, urgent: true) }  // 12 MB: past the pipe and the 8 MiB bound
        // A writer that waited for the descriptor would never get here (nobody reads the pipe
        // yet): the bound only keeps a loaded machine's slowness from reading as blocking.
        #expect(ContinuousClock.now - start < .seconds(20), "writers waited for the descriptor")
        // Once the reader drains the pipe the sink writes up to 8 MiB into it: only each new chunk's
        // bytes (and the end of the one before, where the notice may start) are searched, not all
        // of it as text again every time, which kept a concurrency thread busy for seconds.
        let notice = Array("log line(s) dropped".utf8)
        var tail: [UInt8] = []
        var found = false
        for _ in 0..<200 {
            let window = tail + pipe.availableBytes()
            if window.contains(notice) {
                found = true
                break
            }
            tail = Array(window.suffix(notice.count))
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(found, "no line said that lines were dropped")
        withExtendedLifetime(sink) {}
    }

    @Test("lines from many threads at once arrive whole, each thread's in its order")
    func concurrentWriters() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("log-sink-\(UUID().uuidString)").path
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(descriptor >= 0)
        defer {
            close(descriptor)
            unlink(path)
        }
        let sink = LogSink(fileDescriptor: descriptor, flushInterval: .milliseconds(1), capacity: 4096)
        let writers = 8
        let lines = 2000
        DispatchQueue.concurrentPerform(iterations: writers) { writer in
            for index in 0..<lines {
                sink.write(self.line("writer=\(writer) line=\(index) " + String(repeating: "y", count: index % 50)), urgent: index % 97 == 0)
            }
        }
        sink.flush()
        let written = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(written.count == writers * lines)
        var next = [Int](repeating: 0, count: writers)
        for text in written {
            let fields = text.split(separator: " ")
            let writer = try #require(fields.first.flatMap { Int($0.dropFirst("writer=".count)) })
            let index = try #require(fields.dropFirst().first.flatMap { Int($0.dropFirst("line=".count)) })
            #expect(index == next[writer], "writer \(writer): line \(index) after \(next[writer] - 1)")
            #expect(text == "writer=\(writer) line=\(index) " + String(repeating: "y", count: index % 50))
            next[writer] = index + 1
        }
        #expect(next == [Int](repeating: lines, count: writers))
    }
}
