import Foundation

/// A file with keys in it: text where `{{credential.<name>}}` (spaces inside the braces allowed)
/// stands for the key of the configured credential of that name (its id unless the config file
/// names it). Nothing else: `{{` always opens a placeholder, and there is no escaping, no
/// condition and no loop.
public struct KeyTemplate: Sendable, Equatable {
    enum Part: Sendable, Equatable {
        case text(String)
        case key(name: String)
    }

    /// A template that does not parse, or one rendered without a key it names.
    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    let parts: [Part]

    /// Parses `text`; the error names the line of the first bad placeholder.
    public init(parsing text: String) throws(Error) {
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.text(String(rest[..<open.lowerBound]))) }
            let line = text[..<open.lowerBound].count(where: { $0 == "\n" }) + 1
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw Error(description: "line \(line): '{{' is not closed by '}}'")
            }
            let inside = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: [" ", "\t"])
            guard inside.hasPrefix("credential."), !inside.contains("\n") else {
                throw Error(description: "line \(line): {{\(inside.prefix(40))}} is not a placeholder; the only one is {{credential.<name>}}")
            }
            let name = String(inside.dropFirst("credential.".count))
            guard !name.isEmpty, name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "._-".unicodeScalars.contains($0)) })
            else {
                throw Error(description: "line \(line): '\(name.prefix(40))' is not a credential name ([A-Za-z0-9._-])")
            }
            parts.append(.key(name: name))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        self.parts = parts
    }

    /// The credential names the template uses.
    public var names: Set<String> {
        Set(self.parts.compactMap { if case .key(let name) = $0 { name } else { nil } })
    }

    /// The text with every placeholder replaced by the key of its name in `keys`.
    package func render(_ keys: [String: String]) throws(Error) -> String {
        var output = ""
        for part in self.parts {
            switch part {
            case .text(let text):
                output += text
            case .key(let name):
                guard let key = keys[name] else { throw Error(description: "no key for {{credential.\(name)}}") }
                output += key
            }
        }
        return output
    }
}
