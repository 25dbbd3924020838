import Foundation
public import NIOHTTP1

/// An RFC 9457 problem detail: the one error shape every Rotor endpoint answers with.
///
/// Body: `{"type": "about:blank", "title", "status", "code", "detail", "errors"?, ...extensions}`
/// with `Content-Type: application/problem+json`.
public struct HTTPError: HTTPResponseError, Sendable, CustomStringConvertible {
    /// One invalid field of a request body or query.
    public struct FieldError: Sendable, Hashable, Codable {
        /// The field's path, e.g. `targets[0].url`.
        public var field: String
        /// What is wrong with it, phrased to be read after the field name.
        public var message: String

        /// Creates a field error.
        public init(field: String, message: String) {
            self.field = field
            self.message = message
        }
    }

    /// The HTTP status.
    public var status: HTTPResponseStatus
    /// A stable, machine-readable error code (`invalid_request`, `not_found`, ...).
    public var code: String
    /// A human-readable explanation of this occurrence. Never carries a secret.
    public var detail: String
    /// Per-field validation errors, if any.
    public var errors: [FieldError]
    /// Extra top-level members, e.g. `job_id` on `rotation_in_progress`.
    public var extensions: [String: String]
    /// Extra response headers, e.g. `Allow`, `WWW-Authenticate`, `Retry-After`.
    public var headers: HTTPHeaders

    /// Creates a problem.
    public init(
        _ status: HTTPResponseStatus,
        code: String,
        detail: String,
        errors: [FieldError] = [],
        extensions: [String: String] = [:],
        headers: HTTPHeaders = [:]
    ) {
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.extensions = extensions
        self.headers = headers
    }

    /// `code: detail`, for logs.
    public var description: String { "\(self.status.code) \(self.code): \(self.detail)" }

    /// The problem+json response.
    public func response() -> Response {
        var object: [String: Any] = [
            "type": "about:blank",
            "title": self.status.reasonPhrase,
            "status": Int(self.status.code),
            "code": self.code,
            "detail": self.detail,
        ]
        if !self.errors.isEmpty {
            object["errors"] = self.errors.map { ["field": $0.field, "message": $0.message] }
        }
        for (key, value) in self.extensions where object[key] == nil {
            object[key] = value
        }
        // JSONSerialization cannot fail on this closed set of String/Int/Array values.
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        var headers = self.headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/problem+json")
        return Response(status: self.status, headers: headers, body: body)
    }
}

extension HTTPError {
    /// 400 `invalid_json`: the body is not well-formed JSON.
    public static func invalidJSON(_ detail: String) -> HTTPError {
        HTTPError(.badRequest, code: "invalid_json", detail: detail)
    }

    /// 400 `bad_request`: the request itself is malformed (not its JSON body).
    public static func badRequest(_ detail: String) -> HTTPError {
        HTTPError(.badRequest, code: "bad_request", detail: detail)
    }

    /// 422 `invalid_request`: well-formed but invalid; `errors` says which fields.
    public static func invalidRequest(_ detail: String, errors: [FieldError] = []) -> HTTPError {
        HTTPError(.unprocessableEntity, code: "invalid_request", detail: detail, errors: errors)
    }

    /// 422 `invalid_request` about the body: "The request body is invalid.", with what is wrong
    /// with each field.
    public static func invalidBody(_ errors: [FieldError] = []) -> HTTPError {
        .invalidRequest("The request body is invalid.", errors: errors)
    }

    /// ``invalidBody(_:)`` for one field.
    public static func invalidBody(field: String, _ message: String) -> HTTPError {
        .invalidBody([FieldError(field: field, message: message)])
    }

    /// 401 `unauthorized` with the `WWW-Authenticate: Bearer` challenge of RFC 6750.
    public static func unauthorized(_ detail: String, invalidToken: Bool = false) -> HTTPError {
        let challenge = invalidToken ? #"Bearer realm="rotor", error="invalid_token""# : #"Bearer realm="rotor""#
        return HTTPError(.unauthorized, code: "unauthorized", detail: detail, headers: ["WWW-Authenticate": challenge])
    }

    /// 403 `forbidden`: authenticated, but not allowed to do this.
    public static func forbidden(_ detail: String) -> HTTPError {
        HTTPError(.forbidden, code: "forbidden", detail: detail)
    }

    /// 404 `not_found`.
    public static func notFound(_ detail: String = "No resource exists at this path.") -> HTTPError {
        HTTPError(.notFound, code: "not_found", detail: detail)
    }

    /// 405 `method_not_allowed` with the `Allow` header listing what the path accepts.
    public static func methodNotAllowed(_ method: HTTPMethod, allowed: [HTTPMethod]) -> HTTPError {
        let allow = allowed.map(\.rawValue).joined(separator: ", ")
        return HTTPError(
            .methodNotAllowed,
            code: "method_not_allowed",
            detail: "\(method.rawValue) is not allowed here; allowed: \(allow).",
            headers: ["Allow": allow]
        )
    }

    /// 409 with a specific conflict code (`rotation_in_progress`, `idempotency_conflict`, ...).
    public static func conflict(code: String, _ detail: String, extensions: [String: String] = [:]) -> HTTPError {
        HTTPError(.conflict, code: code, detail: detail, extensions: extensions)
    }

    /// 413 `payload_too_large`.
    public static func payloadTooLarge(limit: Int) -> HTTPError {
        HTTPError(.payloadTooLarge, code: "payload_too_large", detail: "The request body exceeds the limit of \(limit) bytes.")
    }

    /// 415 `unsupported_media_type`.
    public static func unsupportedMediaType(_ detail: String) -> HTTPError {
        HTTPError(.unsupportedMediaType, code: "unsupported_media_type", detail: detail)
    }

    /// 429 `rate_limited` with `Retry-After` in whole seconds.
    public static func tooManyRequests(retryAfter seconds: Int) -> HTTPError {
        HTTPError(
            .tooManyRequests,
            code: "rate_limited",
            detail: "Too many requests; retry after \(seconds) s.",
            headers: ["Retry-After": String(seconds)]
        )
    }

    /// 500 `internal`. The detail names the request id so an operator can find the log line;
    /// nothing about the cause reaches the client.
    public static func `internal`(requestID: String?) -> HTTPError {
        let reference = requestID.map { " (request id \($0))" } ?? ""
        return HTTPError(
            .internalServerError,
            code: "internal",
            detail: "An internal error occurred\(reference); the server log has the details."
        )
    }

    /// 503 `unavailable`.
    public static func unavailable(_ detail: String) -> HTTPError {
        HTTPError(.serviceUnavailable, code: "unavailable", detail: detail)
    }
}
