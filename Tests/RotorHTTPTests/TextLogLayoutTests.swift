import Logging
import RotorHTTP
import Synchronization
import Testing

/// ``LineLogHandler`` with the text layout: swift-log's layout, and how metadata is merged.
@Suite struct TextLogLayoutTests {
    /// Collects what a handler or stream writes.
    final class Lines: @unchecked Sendable, TextOutputStream {
        // @unchecked: every access goes through `storage`'s lock.
        private let storage = Mutex<[String]>([])
        var all: [String] { self.storage.withLock { $0 } }

        func write(_ string: String) { self.storage.withLock { $0.append(string) } }

        func textLogger(label: String = "rotor", level: Logger.Level = .info) -> Logger {
            Logger(label: label) { label in
                LineLogHandler(label: label, layout: .text, logLevel: level) { line, _ in self.write(String(decoding: line, as: UTF8.self)) }
            }
        }

        func streamLogger(label: String = "rotor", level: Logger.Level = .info) -> Logger {
            Logger(label: label) { label in
                var handler = StreamLogHandler(label: label, stream: self, metadataProvider: nil)
                handler.logLevel = level
                return handler
            }
        }
    }

    /// A line without its leading timestamp, which differs between two loggers' lines.
    private func withoutTimestamp(_ line: String) throws -> Substring {
        let space = try #require(line.firstIndex(of: " "))
        let timestamp = line[..<space]
        #expect(timestamp.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}/) != nil, "\(timestamp)")
        return line[space...]
    }

    @Test("lines are laid out exactly as swift-log's StreamLogHandler lays them out")
    func sameLayoutAsSwiftLog() throws {
        let ours = Lines()
        let theirs = Lines()
        for lines in [ours, theirs] {
            var logger = lines === ours ? lines.textLogger() : lines.streamLogger()
            logger[metadataKey: "request_id"] = "req_abc"
            logger.info("request", metadata: ["http.status": .stringConvertible(200), "http.method": "GET", "job_id": "job_1"])
            logger.debug("below the level")
            logger.warning(
                "odd \"message\"",
                metadata: ["request_id": "req_override", "list": ["a", "b \"c\""], "nested": ["k": ["x", .stringConvertible(1)]], "empty": [:]])
            var bare = lines === ours ? lines.textLogger(label: "") : lines.streamLogger(label: "")
            bare.logLevel = .info
            bare.error("no metadata")
        }
        #expect(ours.all.count == 3)
        #expect(try ours.all.map(self.withoutTimestamp) == theirs.all.map(self.withoutTimestamp))
        #expect(ours.all.first?.hasSuffix(" info rotor: http.method=GET http.status=200 job_id=job_1 request_id=req_abc [RotorHTTPTests] request\n") == true)
    }

    @Test("an event's error is added as error.message and error.type, as swift-log does")
    func errors() throws {
        struct Failure: Error, CustomStringConvertible { var description: String { "it failed" } }
        let lines = Lines()
        lines.textLogger().log(level: .error, "x", error: Failure())
        let line = try #require(lines.all.first)
        #expect(line.contains("error.message=it failed error.type=\(String(reflecting: Failure.self)) "), "\(line)")
    }

    @Test("the handler's own metadata is overridden by the provider's, and both by the event's")
    func precedence() throws {
        let lines = Lines()
        var logger = Logger(label: "rotor") { label in
            LineLogHandler(label: label, layout: .text, metadataProvider: Logger.MetadataProvider { ["a": "provider", "b": "provider"] }) { line, _ in
                lines.write(String(decoding: line, as: UTF8.self))
            }
        }
        logger[metadataKey: "a"] = "handler"
        logger[metadataKey: "c"] = "handler"
        logger.info("x", metadata: ["b": "event"])
        let line = try #require(lines.all.first)
        #expect(try self.withoutTimestamp(line) == " info rotor: a=provider b=event c=handler [RotorHTTPTests] x\n")
    }

    @Test("every control byte (below 0x20, 0x7F) and C1 character is escaped in the message, metadata keys and values: one event, one line", arguments: Array(0..<0x20) + [0x7F, 0x85, 0x9B])
    func controlCharacters(code: UInt32) throws {
        let lines = Lines()
        let character = String(Character(Unicode.Scalar(code)!))
        let forged = "x\(character)2026-12-02T10:00:00+0000 critical rotor: forged\(character)"
        lines.textLogger().info("\(forged)", metadata: ["http.path": "\(forged)", "k\(character)": "v", "list": .array(["\(forged)"])])
        let line = try #require(lines.all.first)
        #expect(lines.all.count == 1)
        let bytes = Array(line.utf8)
        // The only line break is the one that ends the line, and no control byte is left.
        #expect(bytes.last == 0x0A)
        #expect(!bytes.dropLast().contains { $0 < 0x20 || $0 == 0x7F }, "control byte 0x\(String(code, radix: 16)) written raw: \(line.debugDescription)")
        #expect(!line.unicodeScalars.contains { (0x80..<0xA0).contains($0.value) })
        #expect(line.contains(code == 0x0A ? "x\\n2026" : code == 0x09 ? "x\\t2026" : code == 0x0D ? "x\\r2026" : "x\\u{"))
    }
}
