public import Foundation
import Yams

/// Loads and validates provider definitions (docs/providers.md): YAML files in a directory, a
/// YAML string, or the definitions built into Rotor.
public enum ProviderDefinitions {
    /// The definitions Rotor ships (`vultr`, `vultr-user`), in that order.
    public static let builtIn: [ProviderDefinition] = BuiltInDefinitions.sources.map { file, yaml in
        // Checked by the tests; a failure here is a bug in Rotor, not in an operator's file.
        do {
            return try Self.load(yaml: yaml, file: file)
        } catch {
            preconditionFailure("built-in definition \(file): \(error)")
        }
    }

    /// Every `*.yaml` and `*.yml` file in `directory`, sorted by name. Names must be unique across
    /// the files and must not be a built-in definition's. Reads the files synchronously: meant
    /// for start-up, before the service runs.
    public static func load(directory: URL) throws(DefinitionError) -> [ProviderDefinition] {
        let files: [URL]
        do {
            files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
                .filter { ["yaml", "yml"].contains($0.pathExtension.lowercased()) }
                .sorted { $0.lastPathComponent < $1.lastPathComponent }
        } catch {
            throw DefinitionError(file: directory.path, field: nil, problem: "cannot read the directory")
        }
        var definitions: [ProviderDefinition] = []
        var definedIn: [String: String] = [:]
        for builtIn in Self.builtIn { definedIn[builtIn.name] = "Rotor's built-in definitions" }
        for url in files {
            let file = url.lastPathComponent
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw DefinitionError(file: file, field: nil, problem: "cannot read the file")
            }
            guard let yaml = String(data: data, encoding: .utf8) else {
                throw DefinitionError(file: file, field: nil, problem: "is not UTF-8 text")
            }
            let definition = try Self.load(yaml: yaml, file: file)
            if let other = definedIn[definition.name] {
                throw DefinitionError(file: file, field: "name", problem: "\(JSONPointer.quoted(definition.name)) is already defined in \(other)")
            }
            definedIn[definition.name] = file
            definitions.append(definition)
        }
        return definitions
    }

    /// One definition from `yaml`; `file` names it in errors.
    public static func load(yaml: String, file: String) throws(DefinitionError) -> ProviderDefinition {
        guard !yaml.allSatisfy(\.isWhitespace) else {
            throw DefinitionError(file: file, field: nil, problem: "the file is empty")
        }
        let definition: ProviderDefinition
        do {
            definition = try YAMLDecoder().decode(ProviderDefinition.self, from: yaml)
        } catch let error as YamlError {
            throw DefinitionError(file: file, field: nil, problem: Self.describe(error))
        } catch let error as DecodingError {
            let (field, problem) = Self.describe(error)
            throw DefinitionError(file: file, field: field, problem: problem)
        } catch {
            throw DefinitionError(file: file, field: nil, problem: "cannot read the definition (\(error))")
        }
        do {
            try definition.validate()
        } catch {
            throw error.error(in: file)
        }
        return definition
    }

    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            "YAML syntax error at line \(mark.line), column \(mark.column): \(problem)"
        default:
            "YAML syntax error: \(error)"
        }
    }

    private static func describe(_ error: DecodingError) -> (field: String?, problem: String) {
        switch error {
        case .keyNotFound(let key, let context):
            let path = context.codingPath + [key]
            if path.count == 2, path[0].stringValue == "operations" {
                return (Self.path(path), "the operation is missing (verify, create, list and delete are all required)")
            }
            return (Self.path(path), "required field is missing")
        case .typeMismatch(let type, let context):
            return (Self.path(context.codingPath), "expected \(Self.describe(type))")
        case .valueNotFound(let type, let context):
            return (Self.path(context.codingPath), "expected \(Self.describe(type)), found nothing")
        case .dataCorrupted(let context):
            // Yams reports a syntax error as corrupted data, with the parser's error underneath.
            if let syntax = context.underlyingError as? YamlError {
                return (nil, Self.describe(syntax))
            }
            return (Self.path(context.codingPath), context.debugDescription)
        @unknown default:
            return (nil, "cannot read the definition")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "an integer"
        case is Bool.Type: "true or false"
        case is Node.Mapping.Type: "a mapping"
        case is Node.Sequence.Type: "a list"
        case is Node.Scalar.Type: "a single value"
        default: "a different kind of value"
        }
    }

    /// `operations.list.pagination`, with list indices as `[0]`; nil for the document itself.
    private static func path(_ keys: [any CodingKey]) -> String? {
        var path = ""
        for key in keys {
            if let index = key.intValue {
                path += "[\(index)]"
            } else {
                path += (path.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return path.isEmpty ? nil : path
    }
}
