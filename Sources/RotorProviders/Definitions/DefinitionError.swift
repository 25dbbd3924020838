import Foundation

/// Why a provider definition was refused: one line naming the file, the field and the problem,
/// e.g. `linode.yaml: operations.create.secret: "token" is not a JSON Pointer (...)`.
public struct DefinitionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file the definition came from (its name, or what the caller passed to `load(yaml:file:)`).
    public var file: String
    /// The field's path (`operations.list.pagination.next`); nil for the file as a whole.
    public var field: String?
    /// What is wrong.
    public var problem: String

    /// Creates an error.
    public init(file: String, field: String?, problem: String) {
        self.file = file
        self.field = field
        self.problem = problem
    }

    /// `file: field: problem`, always on one line.
    public var description: String {
        let line = [self.file, self.field, self.problem].compactMap { $0 }.joined(separator: ": ")
        return line.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }
}

/// A problem found inside a definition, before the file is known: the field path and the problem.
struct DefinitionIssue: Error {
    var field: String? = nil
    var problem: String

    func error(in file: String) -> DefinitionError {
        DefinitionError(file: file, field: self.field, problem: self.problem)
    }
}
