import Foundation

// The YAML shape of a definition (docs/providers.md). Every mapping refuses fields it does not
// know, so a misspelt field fails the load instead of being silently ignored.

extension ProviderDefinition {
    /// The explanation given for every definition that rotates in place.
    static let rollingRefusal = "Rotor cannot rotate providers whose rotation replaces a key in place: the old value dies at once, so consumers break before they receive the new key, and a lost answer loses the only working key (docs/providers.md)"

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        try container.refuseUnknown(["name", "display_name", "base_url", "auth", "management", "transient_statuses", "error_message", "rolls_in_place", "operations"])
        // First, so that a rolling provider hears why before anything else is checked.
        self.rollsInPlace = try container.optional("rolls_in_place") ?? false
        if self.rollsInPlace {
            throw container.invalid("rolls_in_place", Self.rollingRefusal)
        }
        self.name = try container.required("name")
        self.displayName = try container.required("display_name")
        self.baseURL = try container.required("base_url")
        self.auth = try container.required("auth")
        self.management = try container.required("management")
        self.transientStatuses = try container.optional("transient_statuses") ?? .transient
        self.errorMessage = try container.optional("error_message") ?? JSONPointer("/error")!
        self.operations = try container.required("operations")
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        try container.encode(self.name, forKey: AnyKey("name"))
        try container.encode(self.displayName, forKey: AnyKey("display_name"))
        try container.encode(self.baseURL, forKey: AnyKey("base_url"))
        try container.encode(self.auth, forKey: AnyKey("auth"))
        try container.encode(self.management, forKey: AnyKey("management"))
        try container.encode(self.transientStatuses, forKey: AnyKey("transient_statuses"))
        try container.encode(self.errorMessage, forKey: AnyKey("error_message"))
        if self.rollsInPlace {
            try container.encode(true, forKey: AnyKey("rolls_in_place"))
        }
        try container.encode(self.operations, forKey: AnyKey("operations"))
    }
}

extension ProviderDefinition.Auth: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        let type: String = try container.required("type")
        switch type {
        case "bearer":
            try container.refuseUnknown(["type"])
            self = .bearer
        case "header":
            try container.refuseUnknown(["type", "header", "prefix"])
            self = .header(name: try container.required("header"), prefix: try container.optional("prefix") ?? "")
        case "basic":
            try container.refuseUnknown(["type", "key_as", "other"])
            self = .basic(keyAs: try container.choice("key_as"), other: try container.optional("other") ?? "")
        default:
            throw container.invalid("type", "\(JSONPointer.quoted(type)) is not a supported auth (bearer, header or basic)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        switch self {
        case .bearer:
            try container.encode("bearer", forKey: AnyKey("type"))
        case .header(let name, let prefix):
            try container.encode("header", forKey: AnyKey("type"))
            try container.encode(name, forKey: AnyKey("header"))
            if !prefix.isEmpty { try container.encode(prefix, forKey: AnyKey("prefix")) }
        case .basic(let keyAs, let other):
            try container.encode("basic", forKey: AnyKey("type"))
            try container.encode(keyAs.rawValue, forKey: AnyKey("key_as"))
            if !other.isEmpty { try container.encode(other, forKey: AnyKey("other")) }
        }
    }
}

extension ProviderDefinition.Management: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let management = Self(rawValue: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(JSONPointer.quoted(text)) is not supported (self or manager)")
        }
        self = management
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.rawValue)
    }
}

extension ProviderDefinition.Operations: Codable {
    private static let names = ["verify", "create", "list", "delete"]

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        for key in container.allKeys where ["roll", "rotate"].contains(key.stringValue.lowercased()) {
            throw container.invalid(key.stringValue, ProviderDefinition.rollingRefusal)
        }
        try container.refuseUnknown(Self.names)
        self.verify = try container.required("verify")
        self.create = try container.required("create")
        self.list = try container.required("list")
        self.delete = try container.required("delete")
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        try container.encode(self.verify, forKey: AnyKey("verify"))
        try container.encode(self.create, forKey: AnyKey("create"))
        try container.encode(self.list, forKey: AnyKey("list"))
        try container.encode(self.delete, forKey: AnyKey("delete"))
    }
}

extension ProviderDefinition.Request: Codable {
    static let fields = ["method", "path", "body", "success"]

    init(_ container: KeyedDecodingContainer<AnyKey>) throws {
        self.method = (try container.required("method") as String).uppercased()
        guard ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(self.method) else {
            throw container.invalid("method", "\(JSONPointer.quoted(self.method)) is not supported (GET, POST, PUT, PATCH or DELETE)")
        }
        self.path = try container.required("path")
        self.body = try container.optional("body")
        self.success = try container.optional("success") ?? .success
    }

    func encode(into container: inout KeyedEncodingContainer<AnyKey>) throws {
        try container.encode(self.method, forKey: AnyKey("method"))
        try container.encode(self.path, forKey: AnyKey("path"))
        try container.encodeIfPresent(self.body, forKey: AnyKey("body"))
        try container.encode(self.success, forKey: AnyKey("success"))
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        try container.refuseUnknown(Self.fields)
        try self.init(container)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        try self.encode(into: &container)
    }
}

extension ProviderDefinition.Create: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        try container.refuseUnknown(ProviderDefinition.Request.fields + ["id", "secret", "name", "expires_at", "created_at"])
        self.request = try ProviderDefinition.Request(container)
        self.id = try container.required("id")
        self.secret = try container.required("secret")
        self.name = try container.optional("name")
        self.expiresAt = try container.optional("expires_at")
        self.createdAt = try container.optional("created_at")
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        try self.request.encode(into: &container)
        try container.encode(self.id, forKey: AnyKey("id"))
        try container.encode(self.secret, forKey: AnyKey("secret"))
        try container.encodeIfPresent(self.name, forKey: AnyKey("name"))
        try container.encodeIfPresent(self.expiresAt, forKey: AnyKey("expires_at"))
        try container.encodeIfPresent(self.createdAt, forKey: AnyKey("created_at"))
    }
}

extension ProviderDefinition.List: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        try container.refuseUnknown(
            ProviderDefinition.Request.fields + ["items", "id", "name", "masked", "suffix_length", "created_at", "expires_at", "pagination"]
        )
        self.request = try ProviderDefinition.Request(container)
        self.items = try container.required("items")
        self.id = try container.required("id")
        self.name = try container.optional("name")
        self.masked = try container.optional("masked")
        self.suffixLength = try container.optional("suffix_length")
        if let length = self.suffixLength, length < 1 {
            throw container.invalid("suffix_length", "must be at least 1")
        }
        if self.masked == nil, self.suffixLength != nil {
            throw container.invalid("suffix_length", "needs masked: without a masked key there is no suffix to cut")
        }
        self.createdAt = try container.optional("created_at")
        self.expiresAt = try container.optional("expires_at")
        self.pagination = try container.optional("pagination") ?? ProviderDefinition.Pagination.none
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        try self.request.encode(into: &container)
        try container.encode(self.items, forKey: AnyKey("items"))
        try container.encode(self.id, forKey: AnyKey("id"))
        try container.encodeIfPresent(self.name, forKey: AnyKey("name"))
        try container.encodeIfPresent(self.masked, forKey: AnyKey("masked"))
        try container.encodeIfPresent(self.suffixLength, forKey: AnyKey("suffix_length"))
        try container.encodeIfPresent(self.createdAt, forKey: AnyKey("created_at"))
        try container.encodeIfPresent(self.expiresAt, forKey: AnyKey("expires_at"))
        try container.encode(self.pagination, forKey: AnyKey("pagination"))
    }
}

extension ProviderDefinition.Delete: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        try container.refuseUnknown(ProviderDefinition.Request.fields + ["gone_statuses"])
        self.request = try ProviderDefinition.Request(container)
        self.goneStatuses = try container.optional("gone_statuses") ?? .gone
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        try self.request.encode(into: &container)
        try container.encode(self.goneStatuses, forKey: AnyKey("gone_statuses"))
    }
}

extension ProviderDefinition.Pagination: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        let type: String = try container.required("type")
        switch type {
        case "none":
            try container.refuseUnknown(["type"])
            self = .none
        case "cursor":
            try container.refuseUnknown(["type", "param", "next"])
            self = .cursor(param: try container.required("param"), next: try container.required("next"))
        case "next_link":
            try container.refuseUnknown(["type", "next"])
            self = .nextLink(next: try container.required("next"))
        case "page":
            try container.refuseUnknown(["type", "param", "start", "per_page_param", "per_page"])
            let perPageParam: String? = try container.optional("per_page_param")
            let perPage: Int? = try container.optional("per_page")
            if perPageParam != nil, perPage == nil {
                throw container.invalid("per_page", "is required with per_page_param")
            }
            if let perPage, perPage < 1 {
                throw container.invalid("per_page", "must be at least 1")
            }
            self = .page(param: try container.required("param"), start: try container.optional("start") ?? 1, perPageParam: perPageParam, perPage: perPage)
        default:
            throw container.invalid("type", "\(JSONPointer.quoted(type)) is not a supported pagination (none, cursor, next_link or page)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        switch self {
        case .none:
            try container.encode("none", forKey: AnyKey("type"))
        case .cursor(let param, let next):
            try container.encode("cursor", forKey: AnyKey("type"))
            try container.encode(param, forKey: AnyKey("param"))
            try container.encode(next, forKey: AnyKey("next"))
        case .nextLink(let next):
            try container.encode("next_link", forKey: AnyKey("type"))
            try container.encode(next, forKey: AnyKey("next"))
        case .page(let param, let start, let perPageParam, let perPage):
            try container.encode("page", forKey: AnyKey("type"))
            try container.encode(param, forKey: AnyKey("param"))
            try container.encode(start, forKey: AnyKey("start"))
            try container.encodeIfPresent(perPageParam, forKey: AnyKey("per_page_param"))
            try container.encodeIfPresent(perPage, forKey: AnyKey("per_page"))
        }
    }
}

extension KeyedDecodingContainer where Key == AnyKey {
    func required<T: Decodable>(_ key: String) throws -> T {
        try self.decode(T.self, forKey: AnyKey(key))
    }

    func optional<T: Decodable>(_ key: String) throws -> T? {
        try self.decodeIfPresent(T.self, forKey: AnyKey(key))
    }

    func choice<T: RawRepresentable & CaseIterable>(_ key: String) throws -> T where T.RawValue == String {
        let text: String = try self.required(key)
        guard let value = T(rawValue: text) else {
            let known = T.allCases.map(\.rawValue).joined(separator: " or ")
            throw self.invalid(key, "\(JSONPointer.quoted(text)) is not supported (\(known))")
        }
        return value
    }

    /// An error at `key` with `problem`, for ``ProviderDefinitions`` to report with its path.
    func invalid(_ key: String, _ problem: String) -> DecodingError {
        .dataCorrupted(DecodingError.Context(codingPath: self.codingPath + [AnyKey(key)], debugDescription: problem))
    }

    func refuseUnknown(_ known: [String]) throws {
        for key in self.allKeys where !known.contains(key.stringValue) {
            throw self.invalid(key.stringValue, "unknown field (known here: \(known.joined(separator: ", ")))")
        }
    }
}
