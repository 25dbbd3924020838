import Foundation

// What decoding cannot check alone: names, paths, and which variables each call may use.

extension ProviderDefinition {
    /// Throws the first problem found.
    func validate() throws(DefinitionIssue) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-")
        guard let first = self.name.first, first.isLetter || first.isNumber, self.name.allSatisfy({ allowed.contains($0) }) else {
            throw DefinitionIssue(field: "name", problem: "\(JSONPointer.quoted(self.name)) must be lowercase letters, digits and \"-\", starting with a letter or digit")
        }
        guard !self.displayName.isEmpty else {
            throw DefinitionIssue(field: "display_name", problem: "must not be empty")
        }
        guard let base = URLComponents(string: self.baseURL), ["http", "https"].contains(base.scheme ?? ""),
              base.host?.isEmpty == false, base.query == nil, base.fragment == nil, base.user == nil
        else {
            throw DefinitionIssue(field: "base_url", problem: "\(JSONPointer.quoted(self.baseURL)) must be an absolute http(s) URL with a host and no query, fragment or user")
        }
        if case .header(let header, _) = self.auth {
            let token = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~")
            guard !header.isEmpty, header.allSatisfy({ token.contains($0) }) else {
                throw DefinitionIssue(field: "auth.header", problem: "\(JSONPointer.quoted(header)) is not an HTTP header name")
            }
        }
        try self.check(self.operations.verify, "verify", may: [])
        try self.check(self.operations.create.request, "create", may: [.name, .expiresAt, .expires])
        try self.check(self.operations.list.request, "list", may: [])
        try self.check(self.operations.delete.request, "delete", may: [.keyID])
        switch self.operations.list.pagination {
        case .cursor(let param, _), .page(let param, _, _, _):
            guard !param.isEmpty else {
                throw DefinitionIssue(field: "operations.list.pagination.param", problem: "must not be empty")
            }
        case .none, .nextLink:
            break
        }
    }

    /// Checks one call: its path, and that its templates use only the variables it may.
    private func check(_ request: Request, _ operation: String, may variables: Set<Template.Variable>) throws(DefinitionIssue) {
        let field = "operations.\(operation)"
        guard request.path.description.hasPrefix("/") else {
            throw DefinitionIssue(field: "\(field).path", problem: "\(JSONPointer.quoted(request.path.description)) must start with \"/\" (it is appended to the configured base URL)")
        }
        var available = variables
        if self.management == .manager { available.insert(.subject) }
        for (part, used) in [("path", request.path.variables), ("body", request.body?.variables ?? [])] {
            for variable in used.sorted() where !available.contains(variable) {
                let problem: String
                switch variable {
                case .subject:
                    problem = "{{subject}} needs management: manager (with management: self, a key manages its own keys)"
                case .cursor, .page:
                    problem = "{{\(variable.rawValue)}} is not a template variable here: operations.list.pagination adds it as a query parameter"
                default:
                    let names = available.sorted().map { "{{\($0.rawValue)}}" }.joined(separator: ", ")
                    problem = "{{\(variable.rawValue)}} is not available in \(operation) (available: \(names.isEmpty ? "none" : names))"
                }
                throw DefinitionIssue(field: "\(field).\(part)", problem: problem)
            }
        }
        // A manager key manages someone else's keys: a call that does not name the subject would
        // act on the manager's own keys instead.
        if self.management == .manager, operation != "verify", !request.path.variables.contains(.subject) {
            throw DefinitionIssue(field: "\(field).path", problem: "must name {{subject}} (management: manager acts on the subject's keys)")
        }
    }
}
