import Foundation
import Logging
import NIOCore
import NIOHTTP1
@testable import RotorAPI
import RotorHTTP
import Testing

@Suite struct OpenAPIDocumentTests {
    private static let specURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("openapi.yaml")

    @Test("the embedded document is openapi.yaml byte for byte (the EmbedOpenAPI plugin builds it in)")
    func embeddedMatchesFile() throws {
        let file = try String(contentsOf: Self.specURL, encoding: .utf8)
        #expect(OpenAPIDocument.yaml == file)
    }

    @Test("GET /openapi.yaml serves the document as YAML")
    func served() async throws {
        let responder = AuthTests.responder()
        let response = try await responder.respond(to: Request(method: .GET, uri: "/openapi.yaml", logger: Logger(label: "t")))
        #expect(response.status == .ok)
        #expect(response.headers["Content-Type"].first?.hasPrefix("application/yaml") == true)
        #expect(String(buffer: response.body) == OpenAPIDocument.yaml)
    }

    /// `(method, path)` for every operation in the document.
    private static func documentedOperations() -> [(method: String, path: String)] {
        var operations: [(String, String)] = []
        var currentPath: String?
        var inPaths = false
        for line in OpenAPIDocument.yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            if inPaths, !line.hasPrefix(" "), !line.isEmpty { inPaths = false }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                currentPath = String(line.dropFirst(2).dropLast())
            } else if let path = currentPath, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast().uppercased()
                if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(method) {
                    operations.append((method, path))
                }
            }
        }
        return operations
    }

    @Test("every documented operation is routed (none answers 404 or 405)")
    func documentedOperationsAreRouted() async throws {
        let operations = Self.documentedOperations()
        #expect(operations.count >= 13)
        try await APIHarness.run { api in
            for operation in operations {
                let path = operation.path.replacingOccurrences(of: #"\{[^}]+\}"#, with: "x", options: .regularExpression)
                let reply = try await api.send(HTTPMethod(rawValue: operation.method), path)
                #expect(reply.status != .notFound || reply.code == "not_found" && path.contains("/x"), "\(operation.method) \(operation.path): \(reply)")
                #expect(reply.status != .methodNotAllowed, "\(operation.method) \(operation.path)")
            }
        }
    }
}
