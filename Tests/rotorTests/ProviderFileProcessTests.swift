import ChildProcess
import FakeVultr
import NIOHTTP1
import Foundation
import Testing

/// `ROTOR_PROVIDERS_DIR` with the real `rotor` binary: a refused definition stops start-up with
/// one line naming the file and field; an accepted one is listed by `GET /v1/providers` and
/// rotates keys like the built-in provider.
@Suite(.timeLimit(.minutes(1))) struct ProviderFileProcessTests {
    /// An operator's definition of a Vultr-shaped API under another name, at `baseURL`.
    static func acme(baseURL: String) -> String {
        """
        name: acme
        display_name: Acme Cloud
        base_url: \(baseURL)
        auth:
          type: bearer
        management: self
        operations:
          verify:
            method: GET
            path: /v2/account
          create:
            method: POST
            path: /v2/apikeys
            body:
              name: "{{name}}"
            id: /api_key/id
            secret: /api_key/api_key
            name: /api_key/name
          list:
            method: GET
            path: /v2/apikeys?per_page=500
            items: /api_keys
            id: /id
            name: /name
            masked: /api_key
            pagination:
              type: cursor
              param: cursor
              next: /meta/links/next
          delete:
            method: DELETE
            path: /v2/apikeys/{{key_id}}

        """
    }

    private static func directory(with files: [String: String]) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-providers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, text) in files { try Data(text.utf8).write(to: directory.appendingPathComponent(name)) }
        return directory
    }

    private static let environment = ["ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token, "ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey]

    @Test("a refused definition stops start-up with exit 78 and one line naming the file and the field", arguments: [
        ("secret: /api_key/api_key", "secret: api_key", "acme.yaml: operations.create.secret:"),
        ("  delete:\n    method: DELETE\n    path: /v2/apikeys/{{key_id}}\n", "", "acme.yaml: operations.delete:"),
        ("name: \"{{name}}\"", "name: \"{{nmae}}\"", "acme.yaml: operations.create.body.name: unknown template variable {{nmae}}"),
        ("management: self", "management: self\nrolls_in_place: true", "acme.yaml: rolls_in_place: Rotor cannot rotate providers whose rotation replaces a key in place"),
    ])
    func refused(_ replaced: String, _ replacement: String, _ expected: String) async throws {
        let text = Self.acme(baseURL: "https://api.acme.test").replacingOccurrences(of: replaced, with: replacement)
        #expect(text != Self.acme(baseURL: "https://api.acme.test"), "the case must change the definition")
        let providers = try Self.directory(with: ["acme.yaml": text])
        defer { try? FileManager.default.removeItem(at: providers) }
        let rotor = try RotorProcessTests.RunningRotor(
            arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", providers.appendingPathComponent("data").path],
            environment: Self.environment.merging(["ROTOR_PROVIDERS_DIR": providers.path]) { $1 })
        #expect(try await rotor.exitStatus() == 78)
        let lines = rotor.errors.split(separator: "\n").filter { $0.contains("ROTOR_PROVIDERS_DIR") }
        #expect(lines.count == 1, "\(rotor.errors)")
        #expect(lines.first?.contains("ROTOR_PROVIDERS_DIR: \(expected)") == true, "\(rotor.errors)")
    }

    @Test("an accepted definition is listed by GET /v1/providers, and a credential naming it rotates through the generic engine")
    func accepted() async throws {
        let fake = FakeVultr(configuration: .init(rateLimitPerSecond: nil))
        try await fake.run { baseURL in
            let providers = try Self.directory(with: ["acme.yaml": Self.acme(baseURL: baseURL)])
            defer { try? FileManager.default.removeItem(at: providers) }
            let rotor = try RotorProcessTests.RunningRotor(
                arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", providers.appendingPathComponent("data").path],
                environment: Self.environment.merging(["ROTOR_PROVIDERS_DIR": providers.path, "ROTOR_RETRY_BASE": "PT0.05S"]) { $1 })
            let port = try await rotor.port()
            func call(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> (HTTPResponseStatus, [String: Any]) {
                try await RotorProcessTests.api(port: port, token: ServeConfigurationTests.token, method, path, body)
            }

            let (listed, list) = try await call(.GET, "/v1/providers")
            #expect(listed == .ok)
            let entries = try #require(list["data"] as? [[String: Any]])
            #expect(entries.compactMap { $0["name"] as? String } == ["vultr", "vultr-user", "acme"])
            let acme = try #require(entries.first { $0["name"] as? String == "acme" })
            #expect(acme["base_url"] as? String == baseURL)
            #expect(acme["source"] as? String == "ROTOR_PROVIDERS_DIR")
            #expect(acme["available"] as? Bool == true)

            let (unknown, refusal) = try await call(.POST, "/v1/credentials", #"{"name":"x","provider":"nope","secret":"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789","targets":[]}"#)
            #expect(unknown == .unprocessableEntity)
            #expect("\(refusal)".contains("acme"), "the refusal names the providers loaded: \(refusal)")

            let (user, key) = fake.addUser()
            let (created, credential) = try await call(.POST, "/v1/credentials", #"{"name":"acme-key","provider":"acme","secret":"\#(key)","targets":[]}"#)
            #expect(created == .created, "\(credential)")
            #expect(credential["provider"] as? String == "acme")
            let credentialID = try #require(credential["id"] as? String)
            let (_, job) = try await call(.POST, "/v1/jobs", #"{"credential_id":"\#(credentialID)"}"#)
            let jobID = try #require(job["id"] as? String)
            let (_, done) = try await call(.GET, "/v1/jobs/\(jobID)?wait=PT20S")
            #expect(done["state"] as? String == "succeeded", "\(done)")

            // One key at the provider: the new one; the old is gone.
            let keys = fake.keys(ofUser: user)
            #expect(keys.count == 1)
            #expect(keys.first?.secret != key)
            rotor.process.terminate()
            #expect(try await rotor.exitStatus() == 0)
        }
    }
}
