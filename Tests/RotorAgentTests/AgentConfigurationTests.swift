import Foundation
import RotorAgent
import Testing

/// A configuration is refused up front, with every field at fault and why.
@Suite struct AgentConfigurationTests {
    static let credential = "cred_0000000000000000000000000a"

    /// A directory with a token file.
    static func setUp() throws -> String {
        let directory = try AtomicFileTests.directory()
        try "rtr_agenttoken123456\n".write(toFile: directory + "/token", atomically: false, encoding: .utf8)
        return directory
    }

    static func flags(_ directory: String) -> AgentFlags {
        var flags = AgentFlags()
        flags.url = "https://rotor.internal:8443/"
        flags.tokenFile = directory + "/token"
        flags.instance = "web-1"
        flags.group = "web"
        flags.credential = Self.credential
        flags.file = directory + "/key"
        return flags
    }

    static func problems(_ flags: AgentFlags, _ environment: [String: String] = [:]) -> [AgentConfigurationError.Problem] {
        do {
            _ = try AgentConfiguration.resolve(flags: flags, environment: environment)
            return []
        } catch {
            return error.problems
        }
    }

    @Test("flags alone make a configuration with the documented defaults; the token is read from its file and never printed")
    func minimal() throws {
        let directory = try Self.setUp()
        let configuration = try AgentConfiguration.resolve(flags: Self.flags(directory), environment: [:])
        #expect(configuration.credentials == [.init(id: Self.credential, name: Self.credential, group: "web", file: .init(path: directory + "/key", mode: 0o600, owner: nil))])
        #expect(configuration.token.value == "rtr_agenttoken123456")
        #expect(!"\(configuration)".contains("rtr_agenttoken123456"))
        #expect(configuration.pollInterval == .seconds(5))
        #expect(configuration.wait == .seconds(60))
        #expect(configuration.commandTimeout == .seconds(30))
        #expect(!configuration.once)
    }

    @Test("ROTOR_AGENT_* variables fill what flags leave out, and flags win over them")
    func environment() throws {
        let directory = try Self.setUp()
        var flags = AgentFlags()
        flags.pollInterval = "2s"
        let configuration = try AgentConfiguration.resolve(
            flags: flags,
            environment: [
                "ROTOR_AGENT_URL": "http://127.0.0.1:8080", "ROTOR_AGENT_TOKEN": "rtr_fromenv", "ROTOR_AGENT_INSTANCE": "pod-7",
                "ROTOR_AGENT_CREDENTIAL": Self.credential, "ROTOR_AGENT_GROUP": "api", "ROTOR_AGENT_FILE": directory + "/k",
                "ROTOR_AGENT_POLL_INTERVAL": "9s", "ROTOR_AGENT_WAIT": "PT30S", "ROTOR_AGENT_MODE": "0640",
            ])
        #expect(configuration.token.value == "rtr_fromenv")
        #expect(configuration.instance == "pod-7")
        #expect(configuration.credentials.first?.group == "api")
        #expect(configuration.credentials.first?.file?.mode == 0o640)
        #expect(configuration.pollInterval == .seconds(2))
        #expect(configuration.wait == .seconds(30))
    }

    @Test(
        "each bad setting is refused with its field and reason",
        arguments: [
            ("url", "ftp://rotor", "--url", "not an http"),
            ("mode", "0999", "--mode", "octal"),
            ("mode", "0400", "--mode", "read and write"),
            ("pollInterval", "500ms", "--poll-interval", "out of range"),
            ("pollInterval", "soon", "--poll-interval", "not a duration"),
            ("commandTimeout", "0s", "--command-timeout", "out of range"),
            ("instance", "web 1", "--instance", "[A-Za-z0-9._:-]"),
            ("group", "we/b", "--group", "[A-Za-z0-9._-]"),
            ("credential", "job_0000000000000000000000000a", "--credential", "not a credential id"),
            ("file", "/nonexistent-dir/key", "--file", "does not exist"),
            ("owner", "no-such-user-rotor", "--owner", "names no user"),
            ("tokenFile", "/nonexistent-token", "--token-file", "cannot read"),
            ("template", "/nonexistent-template", "--template-output", "needs --template"),
        ])
    func badSetting(field: String, value: String, name: String, reason: String) throws {
        let directory = try Self.setUp()
        var flags = Self.flags(directory)
        switch field {
        case "url": flags.url = value
        case "mode": flags.mode = value
        case "pollInterval": flags.pollInterval = value
        case "commandTimeout": flags.commandTimeout = value
        case "instance": flags.instance = value
        case "group": flags.group = value
        case "credential": flags.credential = value
        case "file": flags.file = value
        case "owner": flags.owner = value
        case "tokenFile": flags.tokenFile = value
        case "template": flags.templateOutput = directory + "/out"
        default: Issue.record("unknown field \(field)")
        }
        let problems = Self.problems(flags)
        #expect(problems.contains { $0.field == name && $0.reason.contains(reason) }, "\(problems)")
    }

    @Test("nothing given: every required setting is named at once")
    func empty() {
        let fields = Self.problems(AgentFlags()).map(\.field)
        #expect(fields.contains("--url"))
        #expect(fields.contains("--token-file"))
        #expect(fields.contains("--credential"))
    }

    @Test("a token both in a file and in ROTOR_AGENT_TOKEN is refused, as is an empty token file")
    func tokenSources() throws {
        let directory = try Self.setUp()
        #expect(Self.problems(Self.flags(directory), ["ROTOR_AGENT_TOKEN": "rtr_x"]).contains { $0.field == "ROTOR_AGENT_TOKEN" })
        try "\n".write(toFile: directory + "/token", atomically: false, encoding: .utf8)
        #expect(Self.problems(Self.flags(directory)).contains { $0.field == "--token-file" && $0.reason.contains("empty") })
    }

    @Test("a config file serves several credentials, with names for the template; flags still override its settings")
    func configFile() throws {
        let directory = try Self.setUp()
        let other = "cred_0000000000000000000000000b"
        try "A={{credential.web}}\nB={{ credential.\(other) }}\n".write(toFile: directory + "/tmpl", atomically: false, encoding: .utf8)
        let json = """
            {"url": "http://127.0.0.1:8080", "token_file": "\(directory)/token", "instance": "i-1", "state_file": "\(directory)/state.json",
             "credentials": [{"credential": "\(Self.credential)", "name": "web", "group": "web", "file": "\(directory)/web.key", "mode": "0640"},
                             {"credential": "\(other)", "group": "db"}],
             "template": {"source": "\(directory)/tmpl", "output": "\(directory)/app.env"},
             "reload": "true", "check": "true", "poll_interval": "3s"}
            """
        try json.write(toFile: directory + "/agent.json", atomically: false, encoding: .utf8)
        var flags = AgentFlags()
        flags.config = directory + "/agent.json"
        flags.pollInterval = "4s"
        let configuration = try AgentConfiguration.resolve(flags: flags, environment: [:])
        #expect(configuration.credentials.map(\.name) == ["web", other])
        #expect(configuration.credentials[0].file?.mode == 0o640)
        #expect(configuration.credentials[1].file == nil)
        #expect(configuration.template?.template.names == ["web", other])
        #expect(configuration.template?.output.path == directory + "/app.env")
        #expect(configuration.stateFile == directory + "/state.json")
        #expect(configuration.pollInterval == .seconds(4))
        #expect(configuration.reload == "true")
    }

    @Test(
        "a bad config file is refused with the field at fault",
        arguments: [
            (#"{"url": "http://x", "credentails": []}"#, "--config", "unknown field(s) credentails"),
            (#"{"credentials": [{"credential": "cred_0000000000000000000000000a", "group": "web", "flie": "/tmp/x"}]}"#, "--config", "credentials[0].flie"),
            (#"{"credentials": [{"credential": "cred_0000000000000000000000000a", "group": "web", "file": "/tmp/k", "mode": 384}]}"#, "--config", "credentials[0].mode"),
            (#"{"credentials": [{"credential": "cred_0000000000000000000000000a"}]}"#, "credentials[0].group", "is required"),
            (#"{"credentials": [{"credential": "cred_0000000000000000000000000a", "group": "web"}]}"#, "credentials[0].file", "is required"),
            (#"{"credentials": []}"#, "credentials", "lists no credential"),
            ("[1, 2]", "--config", "must hold a JSON object"),
            ("{not json", "--config", "is not JSON"),
        ])
    func badConfigFile(json: String, field: String, reason: String) throws {
        let directory = try Self.setUp()
        try json.write(toFile: directory + "/agent.json", atomically: false, encoding: .utf8)
        var flags = AgentFlags()
        flags.config = directory + "/agent.json"
        flags.url = "http://127.0.0.1:1"
        flags.tokenFile = directory + "/token"
        flags.instance = "i"
        let problems = Self.problems(flags)
        #expect(problems.contains { $0.field == field && $0.reason.contains(reason) }, "\(problems)")
    }

    @Test("a template naming a credential that is not configured, or that does not parse, is refused")
    func badTemplate() throws {
        let directory = try Self.setUp()
        var flags = Self.flags(directory)
        flags.template = directory + "/tmpl"
        flags.templateOutput = directory + "/out"
        try "K={{credential.other}}".write(toFile: directory + "/tmpl", atomically: false, encoding: .utf8)
        #expect(Self.problems(flags).contains { $0.field == "--template" && $0.reason.contains("{{credential.other}} names no configured credential") })
        try "K={{credential.\(Self.credential)".write(toFile: directory + "/tmpl", atomically: false, encoding: .utf8)
        #expect(Self.problems(flags).contains { $0.field == "--template" && $0.reason.contains("not closed") })
        try "K={{credential.\(Self.credential)}}".write(toFile: directory + "/tmpl", atomically: false, encoding: .utf8)
        #expect(Self.problems(flags).isEmpty)
    }

    @Test("durations read as 500ms, 5s, 2m, 1h, bare seconds or ISO 8601", arguments: [
        ("500ms", Duration.milliseconds(500)), ("5s", .seconds(5)), ("2m", .seconds(120)), ("1h", .seconds(3600)), ("7", .seconds(7)), ("PT60S", .seconds(60)),
        ("PT1M30S", .seconds(90)),
    ])
    func durations(text: String, duration: Duration) {
        #expect(AgentDuration.parse(text) == duration)
    }

    @Test("a duration that is none is nil", arguments: ["", "s", "-1s", "P1M", "five"])
    func notDurations(text: String) {
        #expect(AgentDuration.parse(text) == nil)
    }
}
