import Foundation
import NIOCore
import NIOHTTP1
import RotorHTTP

/// An error in Vultr's shape: `{"error": "message", "status": <code>}` with
/// `Content-Type: application/json` (vultr-api.md), not Rotor's problem+json.
struct VultrError: HTTPResponseError, Sendable {
    private struct Body: Encodable {
        var error: String
        var status: Int
    }

    var status: HTTPResponseStatus
    var message: String
    var headers: HTTPHeaders

    init(_ status: HTTPResponseStatus, _ message: String, headers: HTTPHeaders = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    func response() -> Response {
        let body = Body(error: self.message, status: Int(self.status.code))
        // Encoding a String and an Int cannot fail.
        let data = (try? JSONCoding.encoder.encode(body)) ?? Data()
        var headers = self.headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        return Response(status: self.status, headers: headers, body: data)
    }
}

extension VultrError {
    static let unauthorized = VultrError(.unauthorized, "Invalid API token.")
    static let keyNotFound = VultrError(.notFound, "API key not found")
    static let userNotFound = VultrError(.notFound, "User not found")
    static let forbidden = VultrError(.forbidden, "Unauthorized action. You do not have permission to manage users.")

    static func badRequest(_ message: String) -> VultrError {
        VultrError(.badRequest, message)
    }

    static func tooManyRequests(retryAfter: Int?) -> VultrError {
        var headers: HTTPHeaders = [:]
        if let retryAfter { headers.add(name: "Retry-After", value: String(retryAfter)) }
        return VultrError(.tooManyRequests, "Rate limit reached - please try your request again later.", headers: headers)
    }

    /// Rotor's own router errors (404, 405 with `Allow`) re-shaped the way Vultr answers them.
    init(translating error: HTTPError) {
        var headers = error.headers
        headers.remove(name: "WWW-Authenticate")
        let message: String =
            switch error.status {
            case .notFound: "Invalid route."
            case .methodNotAllowed: "Method not allowed."
            default: error.detail
            }
        self.init(error.status, message, headers: headers)
    }
}
