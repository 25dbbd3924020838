import Foundation
import PackagePlugin

/// Embeds the package's `openapi.yaml` into the target as Swift source at build time, so the
/// binary serves the spec (`GET /openapi.yaml`) without a resource bundle to ship beside it, and
/// no generated copy is committed: the YAML file is the only source.
@main
struct EmbedOpenAPI: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let spec = context.package.directoryURL.appending(path: "openapi.yaml")
        let output = context.pluginWorkDirectoryURL.appending(path: "OpenAPIDocument.swift")
        return [
            .buildCommand(
                displayName: "Embedding openapi.yaml",
                executable: try context.tool(named: "embed-openapi").url,
                arguments: [spec.path(percentEncoded: false), output.path(percentEncoded: false)],
                inputFiles: [spec],
                outputFiles: [output]
            )
        ]
    }
}
