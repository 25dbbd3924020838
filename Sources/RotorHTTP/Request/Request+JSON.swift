import Foundation
import NIOCore
import NIOHTTP1
import NIOFoundationCompat

extension Request {
    /// Decodes the body as JSON into `T`.
    ///
    /// A wrong `Content-Type` is 415, malformed JSON 400 `invalid_json`, and a well-formed body of
    /// the wrong shape 422 `invalid_request` naming the field.
    public func decode<T: Decodable>(_ type: T.Type) throws(HTTPError) -> T {
        let contentType = self.headers.first(name: "Content-Type")?.lowercased() ?? ""
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json")) else {
            throw HTTPError.unsupportedMediaType("The request body must be JSON (Content-Type: application/json).")
        }
        let data = Data(buffer: self.body, byteTransferStrategy: .noCopy)
        do {
            return try JSONCoding.decoder.decode(T.self, from: data)
        } catch let error as DecodingError {
            throw Self.problem(for: error)
        } catch {
            throw HTTPError.invalidJSON("The request body is not valid JSON.")
        }
    }

    private static func problem(for error: DecodingError) -> HTTPError {
        func path(_ codingPath: [any CodingKey]) -> String {
            var result = ""
            for key in codingPath {
                if let index = key.intValue {
                    result += "[\(index)]"
                } else {
                    result += result.isEmpty ? key.stringValue : "." + key.stringValue
                }
            }
            return result.isEmpty ? "(body)" : result
        }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return .invalidJSON("The request body is not valid JSON.")
        case .dataCorrupted(let context):
            return .invalidBody(field: path(context.codingPath), context.debugDescription)
        case .keyNotFound(let key, let context):
            return .invalidBody(field: path(context.codingPath + [key]), "is required")
        case .typeMismatch(let type, let context):
            return .invalidBody(field: path(context.codingPath), "must be \(describe(type))")
        case .valueNotFound(let type, let context):
            return .invalidBody(field: path(context.codingPath), "must be \(describe(type)), not null")
        @unknown default:
            return .invalidBody()
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type, is UInt.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is [Any].Type: "an array"
        default: "an object"
        }
    }
}
