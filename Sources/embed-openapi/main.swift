import Foundation

// embed-openapi <openapi.yaml> <OpenAPIDocument.swift>: the EmbedOpenAPI plugin's tool. Writes the
// YAML as a raw string literal whose delimiter no line of the document can close early.

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: embed-openapi <openapi.yaml> <output.swift>\n".utf8))
    exit(64)
}
let yaml = try String(contentsOf: URL(fileURLWithPath: arguments[1]), encoding: .utf8)
var hashes = "#"
while yaml.contains("\"\"\"" + hashes) || yaml.contains("\\" + hashes) { hashes += "#" }
let source = """
    // Generated at build time by the EmbedOpenAPI plugin from openapi.yaml. Do not edit.

    /// The OpenAPI document served at `GET /openapi.yaml`.
    package enum OpenAPIDocument {
        /// The document, byte for byte as `openapi.yaml`.
        package static let yaml = \(hashes)\"\"\"
    \(yaml)
    \"\"\"\(hashes)
    }

    """
try Data(source.utf8).write(to: URL(fileURLWithPath: arguments[2]), options: .atomic)
