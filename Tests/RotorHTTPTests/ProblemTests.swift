import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorHTTP
import Testing

@Suite struct ProblemTests {
    private func object(_ response: Response) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(response.bodyString.utf8)) as? [String: Any])
    }

    @Test("a problem has the RFC 9457 members, the code, and the problem+json type")
    func shape() throws {
        let error = HTTPError.invalidRequest("The request body is invalid.", errors: [.init(field: "targets[0].url", message: "must be an https URL")])
        let response = error.response()
        #expect(response.status == .unprocessableEntity)
        #expect(response.headers["Content-Type"] == ["application/problem+json"])
        let body = try self.object(response)
        #expect(body["type"] as? String == "about:blank")
        #expect(body["title"] as? String == "Unprocessable Entity")
        #expect(body["status"] as? Int == 422)
        #expect(body["code"] as? String == "invalid_request")
        #expect(body["detail"] as? String == "The request body is invalid.")
        let errors = try #require(body["errors"] as? [[String: String]])
        #expect(errors == [["field": "targets[0].url", "message": "must be an https URL"]])
    }

    @Test("extensions become top-level members but cannot override the standard ones")
    func extensions() throws {
        let error = HTTPError.conflict(code: "rotation_in_progress", "A rotation is already running.", extensions: ["job_id": "job_1", "status": "999"])
        let body = try self.object(error.response())
        #expect(body["job_id"] as? String == "job_1")
        #expect(body["status"] as? Int == 409)
        #expect(body["code"] as? String == "rotation_in_progress")
        #expect(body["errors"] == nil)
    }

    @Test("statuses and codes match the contract", arguments: [
        (HTTPError.invalidJSON("x"), 400, "invalid_json"),
        (HTTPError.unauthorized("x"), 401, "unauthorized"),
        (HTTPError.forbidden("x"), 403, "forbidden"),
        (HTTPError.notFound(), 404, "not_found"),
        (HTTPError.methodNotAllowed(.PUT, allowed: [.GET]), 405, "method_not_allowed"),
        (HTTPError.payloadTooLarge(limit: 10), 413, "payload_too_large"),
        (HTTPError.unsupportedMediaType("x"), 415, "unsupported_media_type"),
        (HTTPError.internal(requestID: "req_1"), 500, "internal"),
        (HTTPError.unavailable("x"), 503, "unavailable"),
    ])
    func codes(error: HTTPError, status: Int, code: String) throws {
        let body = try self.object(error.response())
        #expect(body["status"] as? Int == status)
        #expect(body["code"] as? String == code)
        #expect(Int(error.response().status.code) == status)
    }

    @Test("401 carries the Bearer challenge; an invalid token says so")
    func unauthorizedChallenge() {
        #expect(HTTPError.unauthorized("x").response().headers["WWW-Authenticate"] == [#"Bearer realm="rotor""#])
        #expect(HTTPError.unauthorized("x", invalidToken: true).response().headers["WWW-Authenticate"] == [#"Bearer realm="rotor", error="invalid_token""#])
    }

    struct Body: Decodable {
        var name: String
        var targetCount: Int
        var targets: [Target]
        struct Target: Decodable { var url: String }
        enum CodingKeys: String, CodingKey {
            case name, targets
            case targetCount = "target_count"
        }
    }

    private func decode(_ body: String, contentType: String = "application/json") throws(HTTPError) -> Body {
        // `try!`: only the body varies between cases, and the URI is a valid literal.
        let request = try! Request(
            method: .POST,
            uri: "/x",
            headers: ["Content-Type": contentType],
            body: ByteBuffer(string: body),
            logger: .init(label: "t")
        )
        return try request.decode(Body.self)
    }

    @Test("decoding a valid body works, keys as CodingKeys spell them")
    func decodeValid() throws {
        let body = try self.decode(#"{"name":"a","target_count":1,"targets":[{"url":"https://x"}]}"#)
        #expect(body.name == "a")
        #expect(body.targetCount == 1)
        #expect(body.targets.first?.url == "https://x")
    }

    @Test("malformed JSON is 400 invalid_json", arguments: [#"{"name":"#, "", "not json", #"{"name" "a"}"#, "[1, 2"])
    func decodeMalformed(body: String) {
        #expect {
            try self.decode(body)
        } throws: { error in
            (error as? HTTPError)?.code == "invalid_json" && (error as? HTTPError)?.status == .badRequest
        }
    }

    @Test("a body of the wrong shape is 422 naming the field as the client spelled it")
    func decodeWrongShape() {
        func fieldError(_ body: String) -> HTTPError.FieldError? {
            do {
                _ = try self.decode(body)
                return nil
            } catch {
                #expect(error.code == "invalid_request")
                #expect(error.status == .unprocessableEntity)
                return error.errors.first
            }
        }
        #expect(fieldError(#"{"target_count":1,"targets":[]}"#) == .init(field: "name", message: "is required"))
        #expect(fieldError(#"{"name":"a","target_count":"1","targets":[]}"#) == .init(field: "target_count", message: "must be an integer"))
        #expect(fieldError(#"{"name":"a","target_count":1,"targets":[{"url":5}]}"#) == .init(field: "targets[0].url", message: "must be a string"))
        #expect(fieldError(#"{"name":null,"target_count":1,"targets":[]}"#)?.field == "name")
    }

    @Test("a body that is not JSON by content type is 415")
    func decodeWrongMediaType() {
        #expect {
            try self.decode(#"{"name":"a","target_count":1,"targets":[]}"#, contentType: "text/plain")
        } throws: { error in
            (error as? HTTPError)?.code == "unsupported_media_type"
        }
        #expect(throws: Never.self) {
            try self.decode(#"{"name":"a","target_count":1,"targets":[]}"#, contentType: "application/merge-patch+json; charset=utf-8")
        }
    }
}
