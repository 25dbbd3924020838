import Foundation

/// A path or body string with `{{variable}}` placeholders from a fixed set, so that a misspelt
/// or misplaced variable is refused when the definition loads rather than sent to a provider.
/// There is no logic (no sections, loops or defaults): only substitution.
public struct Template: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The values a template may name.
    public enum Variable: String, Sendable, Hashable, CaseIterable, Comparable {
        /// The new key's name (create).
        case name
        /// The new key's expiry as RFC 3339 UTC (create); absent when the key does not expire.
        case expiresAt = "expires_at"
        /// `true` when the new key expires (create): a body member that is exactly `"{{expires}}"`
        /// is written as the JSON boolean, and left out when the key does not expire.
        case expires
        /// The provider's id of the key (delete).
        case keyID = "key_id"
        /// The user whose keys a manager key manages (`management: manager` only).
        case subject
        /// Reserved for pagination, which adds the cursor as a query parameter itself.
        case cursor
        /// Reserved for pagination, which adds the page number as a query parameter itself.
        case page

        public static func < (lhs: Variable, rhs: Variable) -> Bool {
            Self.allCases.firstIndex(of: lhs)! < Self.allCases.firstIndex(of: rhs)!
        }
    }

    enum Part: Sendable, Hashable {
        case literal(String)
        case variable(Variable)
    }

    /// The template as written.
    public let description: String
    let parts: [Part]

    /// Parses `text`; throws a one-line reason for an unclosed `{{` or an unknown variable.
    init(parsing text: String) throws(DefinitionIssue) {
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex {
                parts.append(.literal(String(rest[..<open.lowerBound])))
            }
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw DefinitionIssue(problem: "\"{{\" is not closed by \"}}\"")
            }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            guard let variable = Variable(rawValue: name) else {
                let known = Variable.allCases.map(\.rawValue).joined(separator: ", ")
                throw DefinitionIssue(problem: "unknown template variable {{\(name)}} (known: \(known))")
            }
            parts.append(.variable(variable))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty {
            parts.append(.literal(String(rest)))
        }
        self.description = text
        self.parts = parts
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.problem)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }

    /// The variables it names.
    public var variables: Set<Variable> {
        Set(self.parts.compactMap { if case .variable(let variable) = $0 { variable } else { nil } })
    }

    /// The one variable this template is, when it is nothing else (`"{{expires_at}}"`).
    var soleVariable: Variable? {
        if self.parts.count == 1, case .variable(let variable) = self.parts[0] { variable } else { nil }
    }

    /// The text with each variable replaced by its value passed through `escape`; a variable
    /// without a value becomes empty.
    func render(_ values: [Variable: String], escape: (String) -> String = { $0 }) -> String {
        self.parts.map { part in
            switch part {
            case .literal(let text): text
            case .variable(let variable): values[variable].map(escape) ?? ""
            }
        }.joined()
    }
}

/// A request body: any JSON value (written as YAML), whose strings are ``Template``s. Values are
/// substituted into strings and serialised by a JSON encoder, so they are always escaped. A
/// member whose value is exactly one variable without a value (`date_expire: "{{expires_at}}"`
/// for a key that never expires) is left out.
public indirect enum BodyTemplate: Sendable, Hashable, Codable {
    /// A string with placeholders.
    case string(Template)
    /// An integer.
    case integer(Int)
    /// Any other number.
    case number(Double)
    /// `true` or `false`.
    case bool(Bool)
    /// `null`.
    case null
    /// A list.
    case array([BodyTemplate])
    /// An object.
    case object([String: BodyTemplate])

    public init(from decoder: any Decoder) throws {
        if let container = try? decoder.container(keyedBy: AnyKey.self) {
            var members: [String: BodyTemplate] = [:]
            for key in container.allKeys {
                members[key.stringValue] = try container.decode(BodyTemplate.self, forKey: key)
            }
            self = .object(members)
        } else if var container = try? decoder.unkeyedContainer() {
            var elements: [BodyTemplate] = []
            while !container.isAtEnd {
                elements.append(try container.decode(BodyTemplate.self))
            }
            self = .array(elements)
        } else {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let value = try? container.decode(Bool.self) {
                self = .bool(value)
            } else if let value = try? container.decode(Int.self) {
                self = .integer(value)
            } else if let value = try? container.decode(Double.self) {
                self = .number(value)
            } else {
                self = .string(try container.decode(Template.self))
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .object(let members):
            var container = encoder.container(keyedBy: AnyKey.self)
            for (key, value) in members.sorted(by: { $0.key < $1.key }) {
                try container.encode(value, forKey: AnyKey(key))
            }
        case .array(let elements):
            var container = encoder.unkeyedContainer()
            for element in elements { try container.encode(element) }
        case .string(let template):
            var container = encoder.singleValueContainer()
            try container.encode(template)
        case .integer(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .number(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .bool(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        }
    }

    /// Every variable named anywhere in the body.
    var variables: Set<Template.Variable> {
        switch self {
        case .string(let template): template.variables
        case .array(let elements): elements.reduce(into: []) { $0.formUnion($1.variables) }
        case .object(let members): members.values.reduce(into: []) { $0.formUnion($1.variables) }
        case .integer, .number, .bool, .null: []
        }
    }

    /// The body as a `JSONSerialization` value, or nil for a member to leave out.
    func render(_ values: [Template.Variable: String]) -> Any? {
        switch self {
        case .string(let template):
            if let sole = template.soleVariable, values[sole] == nil { return nil }
            if template.soleVariable == .expires { return true }
            return template.render(values)
        case .integer(let value): return value
        case .number(let value): return value
        case .bool(let value): return value
        case .null: return NSNull()
        case .array(let elements): return elements.map { $0.render(values) ?? NSNull() }
        case .object(let members): return members.compactMapValues { $0.render(values) }
        }
    }
}

/// A coding key for any member name: definitions check their own keys (unknown ones are refused).
struct AnyKey: CodingKey, Hashable {
    var stringValue: String
    var intValue: Int?

    init(_ string: String) { self.stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { (self.stringValue, self.intValue) = ("\(intValue)", intValue) }
}
