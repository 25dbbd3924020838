import RotorAgent
import Testing

/// `{{credential.<name>}}` and nothing else.
@Suite struct KeyTemplateTests {
    @Test("placeholders, with or without spaces, become the keys; the rest is kept byte for byte")
    func renders() throws {
        let template = try KeyTemplate(parsing: "API_KEY={{credential.web}}\nOTHER={{ credential.db.main }}\n}} {not} {x}\n")
        #expect(template.names == ["web", "db.main"])
        #expect(try template.render(["web": "k1", "db.main": "k2"]) == "API_KEY=k1\nOTHER=k2\n}} {not} {x}\n")
        #expect(try KeyTemplate(parsing: "no placeholders").render([:]) == "no placeholders")
        #expect(try KeyTemplate(parsing: "{{credential.a}}{{credential.a}}").render(["a": "x"]) == "xx")
    }

    @Test(
        "a bad placeholder is an error naming its line",
        arguments: [
            ("line one\nkey={{credential.web", "line 2: '{{' is not closed"),
            ("{{secret}}", "line 1: {{secret}} is not a placeholder"),
            ("a\nb\n{{credential.}}", "line 3: '' is not a credential name"),
            ("{{credential.we b}}", "line 1: 'we b' is not a credential name"),
            ("{{credential.a\n}}", "line 1: {{credential.a"),
        ])
    func parseErrors(text: String, message: String) {
        let error = #expect(throws: KeyTemplate.Error.self) { try KeyTemplate(parsing: text) }
        #expect(error?.description.hasPrefix(message) == true, "\(String(describing: error))")
    }

    @Test("rendering without a key the template names fails instead of writing an empty one")
    func missingKey() throws {
        let template = try KeyTemplate(parsing: "A={{credential.a}} B={{credential.b}}")
        let error = #expect(throws: KeyTemplate.Error.self) { try template.render(["a": "x"]) }
        #expect(error?.description.contains("credential.b") == true)
    }
}
