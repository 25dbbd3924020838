import Foundation
import Logging
import NIOHTTP1
import RotorHTTP
import Synchronization
import Testing

/// ``LineLogHandler`` with the JSON layout: one valid JSON object per line, metadata kept.
@Suite struct JSONLogLayoutTests {
    /// Lines written by a handler.
    final class Lines: Sendable {
        private let storage = Mutex<[[UInt8]]>([])
        var all: [String] { self.storage.withLock { $0.map { String(decoding: $0, as: UTF8.self) } } }

        func append(_ line: [UInt8]) { self.storage.withLock { $0.append(line) } }

        func logger(label: String = "rotor", level: Logger.Level = .info) -> Logger {
            Logger(label: label) { label in
                LineLogHandler(label: label, layout: .json, logLevel: level) { line, _ in self.append(line) }
            }
        }
    }

    private func parse(_ line: String) throws -> [String: Any] {
        #expect(line.hasSuffix("\n"))
        #expect(line.dropLast().contains("\n") == false, "one line per event")
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test("each event is one JSON object: timestamp, level, label, message, and the merged metadata")
    func fields() throws {
        let lines = Lines()
        var logger = lines.logger()
        logger[metadataKey: "request_id"] = "req_abc"
        logger.info("request", metadata: ["http.status": .stringConvertible(200), "job_id": "job_1"])
        logger.debug("below the level")
        logger.error("failed", metadata: ["request_id": "req_override", "list": ["a", "b"], "nested": ["k": "v"]])

        let written = lines.all
        #expect(written.count == 2)
        let first = try self.parse(written[0])
        #expect(first["level"] as? String == "info")
        #expect(first["label"] as? String == "rotor")
        #expect(first["message"] as? String == "request")
        let timestamp = try #require(first["timestamp"] as? String)
        #expect(timestamp.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil, "\(timestamp)")
        let parsed = try #require(ISO8601DateFormatter.withFractionalSeconds.date(from: timestamp))
        #expect(abs(parsed.timeIntervalSinceNow) < 60)
        let metadata = try #require(first["metadata"] as? [String: Any])
        #expect(metadata["request_id"] as? String == "req_abc")
        #expect(metadata["job_id"] as? String == "job_1")
        #expect(metadata["http.status"] as? String == "200")

        let second = try self.parse(written[1])
        #expect(second["level"] as? String == "error")
        let secondMetadata = try #require(second["metadata"] as? [String: Any])
        #expect(secondMetadata["request_id"] as? String == "req_override")
        #expect(secondMetadata["list"] as? [String] == ["a", "b"])
        #expect((secondMetadata["nested"] as? [String: String]) == ["k": "v"])
    }

    @Test("quotes, backslashes, control characters and line separators are escaped and read back unchanged")
    func escaping() throws {
        let lines = Lines()
        let logger = lines.logger()
        let nasty = "a \"quoted\" \\ back\\slash\nnew line\r\ttab \u{01}\u{1F}\u{7F} é 漢字 🔑 \u{2028}\u{2029} end"
        logger.info("\(nasty)", metadata: ["key\"with\nodd": .string(nasty)])
        let line = try #require(lines.all.first)
        #expect(!line.contains("\u{01}") && !line.contains("\u{2028}"))
        let object = try self.parse(line)
        #expect(object["message"] as? String == nasty)
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["key\"with\nodd"] as? String == nasty)
    }

    @Test("values under keys that name credentials are redacted, nested ones too; ids are kept", arguments: LineLogHandler.Layout.allCases)
    func redaction(layout: LineLogHandler.Layout) throws {
        let lines = Lines()
        var logger = Logger(label: "rotor") { label in
            LineLogHandler(label: label, layout: layout) { line, _ in lines.append(line) }
        }
        logger[metadataKey: "admin_token"] = "s3cr3t-token"
        logger.info("x", metadata: [
            "authorization": "Bearer s3cr3t-token",
            "http.Authorization": "Bearer s3cr3t-token",
            "signing_secret": "whsec_c2VjcmV0",
            "admin-token": "s3cr3t-token",
            "api_key": "VULTRKEY",
            "token_id": "tok_123",
            "provider_key_id": "key-1",
            "nested": ["password": "hunter2", "user": "ann"],
        ])
        let line = try #require(lines.all.first)
        for secret in ["s3cr3t", "whsec_", "VULTRKEY", "hunter2"] {
            #expect(!line.contains(secret), "\(secret) leaked: \(line)")
        }
        #expect(line.contains("tok_123") && line.contains("key-1") && line.contains("ann"))
        switch layout {
        case .json:
            let metadata = try #require(try self.parse(line)["metadata"] as? [String: Any])
            #expect(metadata["authorization"] as? String == "[REDACTED]")
            #expect(metadata["admin_token"] as? String == "[REDACTED]")
            #expect(metadata["signing_secret"] as? String == "[REDACTED]")
            #expect(metadata["token_id"] as? String == "tok_123")
            #expect(metadata["provider_key_id"] as? String == "key-1")
            #expect((metadata["nested"] as? [String: String]) == ["password": "[REDACTED]", "user": "ann"])
        case .text:
            #expect(line.contains("authorization=[REDACTED]"))
            #expect(line.contains("admin_token=[REDACTED]"))
            #expect(line.contains("token_id=tok_123"))
            #expect(line.contains(#"nested=["password": "[REDACTED]", "user": "ann"]"#), "\(line)")
        }
    }

    @Test("the access log in JSON carries the request id and no Authorization header")
    func accessLog() async throws {
        let lines = Lines()
        let router = Router()
        router.use(RequestIDMiddleware())
        router.use(AccessLogMiddleware(level: .info, logHeaders: true))
        router.get("/v1/jobs/{id}") { _ in .text("ok", contentType: "text/plain") }
        let responder = router.buildResponder()
        let request = try Request(
            method: .GET, uri: "/v1/jobs/job_1", headers: ["Authorization": "Bearer very-secret-token", "X-Request-Id": "req-42"],
            logger: lines.logger(level: .debug)
        )
        _ = try await responder.respond(to: request)
        let line = try #require(lines.all.first)
        #expect(!line.contains("very-secret-token"))
        let metadata = try #require(try self.parse(line)["metadata"] as? [String: Any])
        #expect(metadata["request_id"] as? String == "req-42")
        #expect(metadata["http.status"] as? String == "200")
    }
}

extension ISO8601DateFormatter {
    fileprivate static var withFractionalSeconds: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
