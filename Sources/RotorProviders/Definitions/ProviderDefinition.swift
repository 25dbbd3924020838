import Foundation

/// A provider's key API declared as data (docs/providers.md): how to authenticate, and the four
/// calls Rotor makes (verify, create, list, delete), run by ``DefinedProvider``. Decoded from
/// YAML by ``ProviderDefinitions``, which also validates it.
public struct ProviderDefinition: Sendable, Hashable, Codable {
    /// The identifier credentials will name (`vultr`, `vultr-user`): lowercase letters, digits, `-`.
    public var name: String
    /// The name shown to people.
    public var displayName: String
    /// Where the API is, e.g. `https://api.vultr.com`: an absolute http(s) URL with no query. It
    /// comes from the operator's file (configuration), never from a request. For the built-in
    /// Vultr definitions, `ROTOR_VULTR_BASE_URL` replaces it.
    public var baseURL: String
    /// How a key authenticates a call.
    public var auth: Auth
    /// Whose keys a key manages.
    public var management: Management
    /// Statuses to retry with backoff (default 408, 429, 500–599); others are permanent.
    public var transientStatuses: StatusSet
    /// Where a failed call's answer carries its message (default `/error`).
    public var errorMessage: JSONPointer
    /// Declared by providers whose rotation replaces the key in place; such definitions are refused.
    public var rollsInPlace: Bool
    /// The calls.
    public var operations: Operations

    /// How a key authenticates a call.
    public enum Auth: Sendable, Hashable {
        /// `Authorization: Bearer <key>`.
        case bearer
        /// `<header>: <prefix><key>`, e.g. `X-Api-Key: <key>` or `Authorization: Token <key>`.
        case header(name: String, prefix: String)
        /// HTTP Basic with the key as the username or the password; the other half is `other`.
        case basic(keyAs: BasicPart, other: String)

        /// Which half of Basic credentials the key is.
        public enum BasicPart: String, Sendable, Hashable, CaseIterable {
            /// The key is the username.
            case username
            /// The key is the password.
            case password
        }
    }

    /// Whose keys a key manages.
    public enum Management: String, Sendable, Hashable, CaseIterable {
        /// A key manages its own user's keys, itself included.
        case selfManaged = "self"
        /// A separate manager key manages a subject's keys (`/v2/users/{{subject}}/apikeys`).
        case manager
    }

    /// The four calls.
    public struct Operations: Sendable, Hashable {
        /// Succeeds when a key authenticates.
        public var verify: Request
        /// Creates a key and answers its plaintext.
        public var create: Create
        /// Lists keys, masked.
        public var list: List
        /// Deletes a key by id.
        public var delete: Delete
    }

    /// One HTTP call: method, path and body templates, and the statuses that mean success.
    public struct Request: Sendable, Hashable {
        /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
        public var method: String
        /// The path under the base URL, starting with `/`; variables are escaped for a path segment.
        public var path: Template
        /// The JSON body, if any.
        public var body: BodyTemplate?
        /// Statuses that mean success (default 200–299).
        public var success: StatusSet
    }

    /// Create: the call, and where the answer carries the new key.
    public struct Create: Sendable, Hashable {
        /// The call.
        public var request: Request
        /// The new key's id.
        public var id: JSONPointer
        /// The new key's plaintext.
        public var secret: JSONPointer
        /// Its name, if the answer carries it.
        public var name: JSONPointer?
        /// Its expiry, if the answer carries it.
        public var expiresAt: JSONPointer?
        /// Its creation time, if the answer carries it.
        public var createdAt: JSONPointer?
    }

    /// List: the call, where the items are, what each carries, and how pages follow.
    public struct List: Sendable, Hashable {
        /// The call.
        public var request: Request
        /// The array of keys in the answer.
        public var items: JSONPointer
        /// Each item's id.
        public var id: JSONPointer
        /// Each item's name, if listed.
        public var name: JSONPointer?
        /// Each item's masked key; its unmasked tail (after the last `*` or `.`) is the visible suffix.
        /// Nil for providers that list no part of a key at all (SendGrid, Scaleway): a secret then
        /// cannot be found by its suffix, and registration must name the key's id.
        public var masked: JSONPointer?
        /// Keep only this many characters of the visible tail, if set.
        public var suffixLength: Int?
        /// Each item's creation time, if listed.
        public var createdAt: JSONPointer?
        /// Each item's expiry, if listed.
        public var expiresAt: JSONPointer?
        /// How to reach the next page.
        public var pagination: Pagination
    }

    /// Delete: the call, and the statuses that mean the key is already gone.
    public struct Delete: Sendable, Hashable {
        /// The call.
        public var request: Request
        /// Statuses that mean the key is already gone, which counts as deleted (default 404).
        public var goneStatuses: StatusSet
    }

    /// How a listing continues.
    public enum Pagination: Sendable, Hashable {
        /// One answer holds every key.
        case none
        /// The answer carries a cursor at `next` (empty or absent on the last page), sent back
        /// as the query parameter `param`.
        case cursor(param: String, next: JSONPointer)
        /// The answer carries the next page's full URL at `next`; it must stay on the base URL.
        case nextLink(next: JSONPointer)
        /// Numbered pages from `start` in the query parameter `param`, with `perPage` items asked
        /// for in `perPageParam` if set; the walk stops at an empty page or one shorter than `perPage`.
        case page(param: String, start: Int, perPageParam: String?, perPage: Int?)
    }
}

/// A set of HTTP statuses, written as a list of codes and ranges: `[200, 201]`, `[408, 429, "500-599"]`.
public struct StatusSet: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The ranges, single codes being one-element ranges.
    public var ranges: [ClosedRange<Int>]

    /// Creates a set.
    public init(_ ranges: [ClosedRange<Int>]) {
        self.ranges = ranges
    }

    /// Whether `status` is in the set.
    public func contains(_ status: Int) -> Bool {
        self.ranges.contains { $0.contains(status) }
    }

    /// `408, 429, 500-599`.
    public var description: String {
        self.ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ", ")
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var ranges: [ClosedRange<Int>] = []
        while !container.isAtEnd {
            // The index before decoding: a failed attempt may move it on.
            let path = container.codingPath + [AnyKey(intValue: container.currentIndex)!]
            if let code = try? container.decode(Int.self) {
                ranges.append(code...code)
                continue
            }
            let text = try container.decode(String.self)
            let bounds = text.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard bounds.count == 2, let low = bounds[0], let high = bounds[1], low <= high else {
                throw DecodingError.dataCorrupted(
                    DecodingError.Context(codingPath: path, debugDescription: "\(JSONPointer.quoted(text)) is neither a status nor a range like \"500-599\"")
                )
            }
            ranges.append(low...high)
        }
        guard !ranges.isEmpty else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "the list of statuses is empty")
        }
        guard ranges.allSatisfy({ $0.lowerBound >= 100 && $0.upperBound <= 599 }) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "HTTP statuses are from 100 to 599")
        }
        self.ranges = ranges
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        for range in self.ranges {
            if range.count == 1 {
                try container.encode(range.lowerBound)
            } else {
                try container.encode("\(range.lowerBound)-\(range.upperBound)")
            }
        }
    }

    /// 200–299.
    public static let success = StatusSet([200...299])
    /// 408, 429 and 500–599: DESIGN.md §2 rule 5.
    public static let transient = StatusSet([408...408, 429...429, 500...599])
    /// 404.
    public static let gone = StatusSet([404...404])
}
