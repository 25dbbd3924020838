import Foundation
import RotorCore
@testable import RotorProviders
import Testing
import Yams

/// Provider definitions: the YAML format, its validation, and the built-in definitions.
@Suite struct ProviderDefinitionsTests {
    /// A valid definition using most of the format; each invalid case below changes one thing.
    static let example = """
        name: example
        display_name: Example Cloud
        base_url: https://api.example.test
        auth:
          type: header
          header: X-Api-Key
          prefix: "Token "
        management: self
        transient_statuses: [408, 429, "500-599"]
        error_message: /errors/0/reason
        operations:
          verify:
            method: GET
            path: /v1/profile
          create:
            method: POST
            path: /v1/tokens
            body:
              label: "{{name}}"
              expiry: "{{expires_at}}"
              scopes: ["*"]
              ttl: 30
              admin: false
            success: [200, 201]
            id: /token/id
            secret: /token/value
            name: /token/label
          list:
            method: GET
            path: /v1/tokens
            items: /data
            id: /id
            name: /label
            masked: /value
            suffix_length: 4
            pagination:
              type: page
              param: page
              per_page_param: page_size
              per_page: 100
          delete:
            method: DELETE
            path: /v1/tokens/{{key_id}}
            gone_statuses: [404, 410]

        """

    /// One invalid definition: the example with `replaced` replaced, and the start of its error.
    struct Invalid: Sendable, CustomTestStringConvertible {
        var what: String
        var replaced: String
        var replacement: String
        var expected: String

        init(_ what: String, _ replaced: String, _ replacement: String, _ expected: String) {
            (self.what, self.replaced, self.replacement, self.expected) = (what, replaced, replacement, expected)
        }

        var testDescription: String { self.what }
    }

    static let invalidCases: [Invalid] = [
        Invalid("YAML syntax error", "  verify:\n", "  verify: [\n", "example.yaml: YAML syntax error at line "),
        Invalid("missing operation", "  delete:\n    method: DELETE\n    path: /v1/tokens/{{key_id}}\n    gone_statuses: [404, 410]\n", "",
         "example.yaml: operations.delete: the operation is missing (verify, create, list and delete are all required)"),
        Invalid("missing required field", "    secret: /token/value\n", "", "example.yaml: operations.create.secret: required field is missing"),
        Invalid("missing base URL", "base_url: https://api.example.test\n", "", "example.yaml: base_url: required field is missing"),
        Invalid("base URL with a query", "base_url: https://api.example.test", "base_url: https://api.example.test/?x=1",
         "example.yaml: base_url: \"https://api.example.test/?x=1\" must be an absolute http(s) URL"),
        Invalid("base URL not http", "base_url: https://api.example.test", "base_url: ftp://api.example.test",
         "example.yaml: base_url: \"ftp://api.example.test\" must be an absolute http(s) URL"),
        Invalid("bad JSON Pointer", "secret: /token/value", "secret: token", "example.yaml: operations.create.secret: \"token\" is not a JSON Pointer"),
        Invalid("bad JSON Pointer escape", "masked: /value", "masked: /val~2ue", "example.yaml: operations.list.masked: \"/val~2ue\" is not a JSON Pointer"),
        Invalid("unknown template variable", "label: \"{{name}}\"", "label: \"{{nmae}}\"",
         "example.yaml: operations.create.body.label: unknown template variable {{nmae}} (known: name, expires_at, expires, key_id, subject, cursor, page)"),
        Invalid("unclosed template", "path: /v1/tokens/{{key_id}}", "path: /v1/tokens/{{key_id", "example.yaml: operations.delete.path: \"{{\" is not closed by \"}}\""),
        Invalid("variable not available in that operation", "    path: /v1/tokens\n    body:", "    path: /v1/tokens/{{key_id}}\n    body:",
         "example.yaml: operations.create.path: {{key_id}} is not available in create (available: {{name}}, {{expires_at}}, {{expires}})"),
        Invalid("subject with management self", "path: /v1/tokens/{{key_id}}", "path: /v1/users/{{subject}}/tokens/{{key_id}}",
         "example.yaml: operations.delete.path: {{subject}} needs management: manager (with management: self, a key manages its own keys)"),
        Invalid("pagination variable in a template", "    path: /v1/tokens\n    items:", "    path: /v1/tokens?page={{page}}\n    items:",
         "example.yaml: operations.list.path: {{page}} is not a template variable here: operations.list.pagination adds it as a query parameter"),
        Invalid("manager without subject", "management: self", "management: manager",
         "example.yaml: operations.create.path: must name {{subject}} (management: manager acts on the subject's keys)"),
        Invalid("rolls in place", "management: self\n", "management: self\nrolls_in_place: true\n",
         "example.yaml: rolls_in_place: Rotor cannot rotate providers whose rotation replaces a key in place: the old value dies at once"),
        Invalid("roll operation", "operations:\n", "operations:\n  roll:\n    method: POST\n    path: /v1/tokens/{{key_id}}/roll\n",
         "example.yaml: operations.roll: Rotor cannot rotate providers whose rotation replaces a key in place"),
        Invalid("rotate operation", "operations:\n", "operations:\n  rotate:\n    method: POST\n    path: /v1/rotate\n",
         "example.yaml: operations.rotate: Rotor cannot rotate providers whose rotation replaces a key in place"),
        Invalid("unsupported auth", "type: header", "type: oauth2", "example.yaml: auth.type: \"oauth2\" is not a supported auth (bearer, header or basic)"),
        Invalid("unsupported basic half", "  type: header\n  header: X-Api-Key\n  prefix: \"Token \"\n", "  type: basic\n  key_as: both\n",
         "example.yaml: auth.key_as: \"both\" is not supported (username or password)"),
        Invalid("unsupported pagination", "type: page", "type: offset",
         "example.yaml: operations.list.pagination.type: \"offset\" is not a supported pagination (none, cursor, next_link or page)"),
        Invalid("unsupported management", "management: self", "management: shared", "example.yaml: management: \"shared\" is not supported (self or manager)"),
        Invalid("unknown field", "    success: [200, 201]", "    sucess: [200, 201]", "example.yaml: operations.create.sucess: unknown field (known here: "),
        Invalid("wrong type", "per_page: 100", "per_page: lots", "example.yaml: operations.list.pagination.per_page: expected an integer"),
        Invalid("bad status range", "\"500-599\"", "\"599-500\"", "example.yaml: transient_statuses[2]: \"599-500\" is neither a status nor a range like \"500-599\""),
        Invalid("unsupported method", "method: DELETE", "method: PURGE", "example.yaml: operations.delete.method: \"PURGE\" is not supported (GET, POST, PUT, PATCH or DELETE)"),
        Invalid("relative path", "path: /v1/profile", "path: v1/profile", "example.yaml: operations.verify.path: \"v1/profile\" must start with \"/\""),
        Invalid("bad name", "name: example", "name: Example Cloud", "example.yaml: name: \"Example Cloud\" must be lowercase letters, digits and \"-\""),
        Invalid("not a mapping", Self.example, "- just\n- a list\n", "example.yaml: expected a mapping"),
        Invalid("empty file", Self.example, "\n", "example.yaml: the file is empty"),
    ]

    @Test("the example definition decodes as written")
    func example() throws {
        let definition = try ProviderDefinitions.load(yaml: Self.example, file: "example.yaml")
        #expect(definition.name == "example")
        #expect(definition.auth == .header(name: "X-Api-Key", prefix: "Token "))
        #expect(definition.management == .selfManaged)
        #expect(definition.transientStatuses.contains(503) && definition.transientStatuses.contains(429) && !definition.transientStatuses.contains(404))
        #expect(definition.errorMessage.description == "/errors/0/reason")
        #expect(definition.operations.create.request.success == StatusSet([200...200, 201...201]))
        #expect(definition.operations.verify.success == .success)
        #expect(definition.operations.list.pagination == .page(param: "page", start: 1, perPageParam: "page_size", perPage: 100))
        #expect(definition.operations.delete.goneStatuses.contains(410))
        #expect(definition.operations.create.request.body?.variables == [.name, .expiresAt])
    }

    @Test("a valid definition round-trips through YAML unchanged", arguments: ["example"] + BuiltInDefinitions.sources.map(\.file))
    func roundTrip(_ file: String) throws {
        let yaml = BuiltInDefinitions.sources.first { $0.file == file }?.yaml ?? Self.example
        let definition = try ProviderDefinitions.load(yaml: yaml, file: file)
        let written = try YAMLEncoder().encode(definition)
        #expect(try ProviderDefinitions.load(yaml: written, file: file) == definition)
    }

    @Test("each invalid definition is refused with one line naming the file and the field", arguments: Self.invalidCases)
    func refused(_ invalid: Invalid) throws {
        let yaml = Self.example.replacingOccurrences(of: invalid.replaced, with: invalid.replacement)
        let expected = invalid.expected
        #expect(yaml != Self.example, "the case changes nothing")
        #expect {
            _ = try ProviderDefinitions.load(yaml: yaml, file: "example.yaml")
        } throws: { error in
            let description = String(describing: error)
            return description.hasPrefix(expected) && !description.contains("\n")
        }
    }

    @Test("a directory loads every YAML file, and refuses a name defined twice or a built-in's")
    func directory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-definitions-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.example.write(to: directory.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try "not a definition".write(to: directory.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        #expect(try ProviderDefinitions.load(directory: directory).map(\.name) == ["example"])

        try Self.example.write(to: directory.appendingPathComponent("b.yml"), atomically: true, encoding: .utf8)
        #expect {
            _ = try ProviderDefinitions.load(directory: directory)
        } throws: { error in
            String(describing: error) == "b.yml: name: \"example\" is already defined in a.yaml"
        }
        try FileManager.default.removeItem(at: directory.appendingPathComponent("b.yml"))
        try Self.example.replacingOccurrences(of: "name: example", with: "name: vultr").write(
            to: directory.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        #expect {
            _ = try ProviderDefinitions.load(directory: directory)
        } throws: { error in
            String(describing: error) == "c.yaml: name: \"vultr\" is already defined in Rotor's built-in definitions"
        }
    }

    @Test("the built-in definitions are vultr (self-managed) and vultr-user (through a manager key)")
    func builtIn() {
        let definitions = ProviderDefinitions.builtIn
        #expect(definitions.map(\.name) == ["vultr", "vultr-user"])
        #expect(definitions.map(\.management) == [.selfManaged, .manager])
        #expect(definitions.allSatisfy { $0.operations.verify.path.description == "/v2/account" })
        #expect(definitions[1].operations.delete.request.path.description == "/v2/users/{{subject}}/apikeys/{{key_id}}")
    }

    @Test("JSON Pointers follow RFC 6901", arguments: [
        ("", true), ("/a", true), ("/a~1b/~0c", true), ("/items/0", true), ("a", false), ("/a~", false), ("/a~2", false),
    ])
    func pointers(_ text: String, _ valid: Bool) {
        #expect((JSONPointer(text) != nil) == valid)
    }

    @Test("a pointer resolves escapes and array indices, and finds nothing where there is nothing")
    func resolve() throws {
        let json = try JSONSerialization.jsonObject(with: Data(#"{"a/b": {"~c": [10, {"d": "x"}]}, "n": null}"#.utf8))
        #expect(JSONPointer("/a~1b/~0c/1/d")?.resolve(in: json) as? String == "x")
        #expect(JSONPointer("/a~1b/~0c/01")?.resolve(in: json) == nil)
        #expect(JSONPointer("/a~1b/~0c/2")?.resolve(in: json) == nil)
        #expect(JSONPointer("/n")?.resolve(in: json) == nil)
        #expect(JSONPointer("/missing/deeper")?.resolve(in: json) == nil)
    }

    @Test("a body substitutes JSON-escaped values and leaves out a member whose only variable has no value")
    func body() throws {
        let definition = try ProviderDefinitions.load(yaml: Self.example, file: "example.yaml")
        let body = try #require(definition.operations.create.request.body)
        let rendered = try #require(body.render([.name: "a \"quoted\"\nname"]))
        let data = try JSONSerialization.data(withJSONObject: rendered, options: [.sortedKeys])
        #expect(String(decoding: data, as: UTF8.self) == #"{"admin":false,"label":"a \"quoted\"\nname","scopes":["*"],"ttl":30}"#)
    }

    @Test("the vultr definition's create body: expire true with date_expire for an expiring key, neither otherwise")
    func expiringBody() throws {
        let vultr = try #require(ProviderDefinitions.builtIn.first { $0.name == "vultr" })
        let body = try #require(vultr.operations.create.request.body)
        func text(_ values: [Template.Variable: String]) throws -> String {
            let data = try JSONSerialization.data(withJSONObject: try #require(body.render(values)), options: [.sortedKeys])
            return String(decoding: data, as: UTF8.self)
        }
        #expect(try text([.name: "k", .expiresAt: "2030-01-01T00:00:00Z", .expires: "true"]) == #"{"date_expire":"2030-01-01T00:00:00Z","expire":true,"name":"k"}"#)
        #expect(try text([.name: "k"]) == #"{"name":"k"}"#)
    }
}
