import AsyncHTTPClient
import FakeVultr
import Foundation
import NIOCore
import NIOHTTP1
import RotorHTTP
import Testing

/// An answer from the fake, body collected.
struct Reply: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: String

    /// The body as a JSON object.
    func object() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(self.body.utf8)) as? [String: Any])
    }

    /// `{"error": ..., "status": ...}` in Vultr's shape, with Content-Type application/json.
    func expectVultrError(_ status: HTTPResponseStatus, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(self.status == status, sourceLocation: sourceLocation)
        #expect(self.headers["Content-Type"] == ["application/json"], sourceLocation: sourceLocation)
        let object = try self.object()
        #expect(object["status"] as? Int == Int(status.code), sourceLocation: sourceLocation)
        #expect((object["error"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
        #expect(object.count == 2, sourceLocation: sourceLocation)
    }
}

/// Talks to a running fake over a real socket with AsyncHTTPClient.
struct TestClient: Sendable {
    let baseURL: String

    func send(_ method: HTTPMethod, _ path: String, key: String?, body: String? = nil, authorization: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: self.baseURL + path)
        request.method = method
        if let authorization {
            request.headers.add(name: "Authorization", value: authorization)
        } else if let key {
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
        }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        // 30 s: in the suite's first seconds on two cores an answer has taken over 10 s.
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: response.status, headers: response.headers, body: String(buffer: bytes))
    }

    /// Creates a key through the API and returns its `api_key` object.
    func create(key: String, name: String) async throws -> [String: Any] {
        let reply = try await self.send(.POST, "/v2/apikeys", key: key, body: #"{"name": "\#(name)"}"#)
        try #require(reply.status == .created)
        return try #require(try reply.object()["api_key"] as? [String: Any])
    }
}

extension FakeVultr {
    /// Runs the fake on port 0 and hands the test a client for it.
    func withClient<T: Sendable>(_ body: @Sendable (TestClient) async throws -> T) async throws -> T {
        try await self.run { baseURL in try await body(TestClient(baseURL: baseURL)) }
    }
}

/// Percent-encodes a query value so that base64's `+`, `/` and `=` survive.
func queryEncoded(_ value: String) -> String {
    value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value
}
