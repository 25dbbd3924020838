import ArgumentParser
import Foundation
import RotorClient

/// How the operator commands reach Rotor and print what it answers; every one of them takes these.
struct ClientOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Rotor's base URL (default: $ROTOR_URL, else http://127.0.0.1:8080).", valueName: "url"))
    var url: String?

    @Option(help: ArgumentHelp("The bearer token (default: $ROTOR_TOKEN). Other users can see a flag in the process list: prefer the environment or --token-file.", valueName: "token"))
    var token: String?

    @Option(help: ArgumentHelp("A file holding the bearer token.", valueName: "path"))
    var tokenFile: String?

    @Option(help: ArgumentHelp("PEM certificates to trust beside the system's, for a Rotor whose TLS certificate a private CA signed.", valueName: "path"))
    var caFile: String?

    @Option(help: ArgumentHelp("Seconds a request may take; past it rotor gives up and exits 3.", valueName: "seconds"))
    var timeout: Double = 30

    @Option(help: "table (aligned, for people) or json (the API's JSON, for scripts).")
    var output: OutputFormat = .table

    func validate() throws {
        guard self.timeout > 0 else { throw ValidationError("--timeout must be more than 0 seconds.") }
    }

    /// Runs `body` with a client; prints a failure the way docs/cli.md says and exits with its
    /// code: 1 for a refused request or an unexpected answer, 3 for no answer in time.
    func run(_ body: (RotorClient, Printer) async throws -> Void) async throws {
        let environment = ProcessInfo.processInfo.environment
        let token: String?
        if let tokenFile = self.tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw ValidationError("Cannot read the token file \(tokenFile).")
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            token = self.token ?? environment["ROTOR_TOKEN"]
        }
        let client: RotorClient
        do {
            client = try RotorClient(
                baseURL: self.url ?? environment["ROTOR_URL"] ?? "http://127.0.0.1:8080", token: token,
                timeout: .milliseconds(Int64(self.timeout * 1000)), caFile: self.caFile)
        } catch {
            throw ValidationError("Cannot read the certificates in \(self.caFile ?? ""): \(error)")
        }
        let printer = Printer(format: self.output)
        do {
            try await body(client, printer)
            await client.shutdown()
        } catch let error as RotorClientError {
            await client.shutdown()
            printer.fail(error)
            throw ExitCode(error.exitCode)
        } catch {
            await client.shutdown()
            throw error
        }
    }
}

extension ClientOptions {
    /// `… delete NAME|ID` (and `tokens revoke`): resolves the name, deletes, says so.
    func delete<T: Named>(_ text: String, _ type: T.Type, with endpoint: Endpoint, saying verb: String = "deleted") async throws {
        try await self.run { client, out in
            let id = try await client.resolve(text, type)
            out.show(try await client.send(endpoint, id: id)) { ["\(verb) \(id)"] }
        }
    }
}

/// `--output`.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

extension RotorClientError {
    /// docs/cli.md, Exit codes.
    var exitCode: Int32 {
        switch self {
        case .unreachable, .timedOut: 3
        case .refused, .unexpected: 1
        }
    }
}
