public import Foundation
import RotorCore

/// Everything `rotor agent` runs with, validated: built by ``resolve(flags:environment:)`` from
/// flags, `ROTOR_AGENT_*` variables and an optional JSON config file, in that order of precedence.
public struct AgentConfiguration: Sendable {
    /// One credential the agent serves.
    public struct Credential: Sendable, Equatable {
        /// `cred_…`.
        public var id: String
        /// What templates call it: `{{credential.<name>}}`. The id unless the config file names it.
        public var name: String
        /// The credential's agent group this instance belongs to.
        public var group: String
        /// Where its key is written; nil when only a template uses it.
        public var file: FileSink?

        package init(id: String, name: String, group: String, file: FileSink?) {
            self.id = id
            self.name = name
            self.group = group
            self.file = file
        }
    }

    /// A file the agent writes atomically.
    public struct FileSink: Sendable, Equatable {
        public var path: String
        public var mode: UInt16
        public var owner: FileOwner?

        package init(path: String, mode: UInt16, owner: FileOwner?) {
            self.path = path
            self.mode = mode
            self.owner = owner
        }
    }

    /// A template rendered with the keys, and where its output goes.
    public struct Template: Sendable {
        public var source: String
        public var template: KeyTemplate
        public var output: FileSink
    }

    /// Rotor's base URL, e.g. `https://rotor.internal:8443`.
    public var url: URL
    /// The `agent` token. Never logged, never passed to a child process.
    public var token: AgentToken
    /// This instance's name in the credential's agent group (the host name by default).
    public var instance: String
    public var credentials: [Credential]
    public var template: Template?
    /// Run with `/bin/sh -c` after a new key is written.
    public var reload: String?
    /// Run with `/bin/sh -c` after the reload; exit 0 means the workload works with the key.
    public var check: String?
    public var commandTimeout: Duration = .seconds(30)
    public var stateFile: String?
    public var once = false
    /// The least time between two fetches that answered the same key.
    public var pollInterval: Duration = .seconds(5)
    /// How long the key route may hold a request open for a change.
    public var wait: Duration = .seconds(60)
    /// A PEM file of extra CA certificates to trust for Rotor's TLS certificate.
    public var caFile: String?
}

/// The bearer token, kept out of descriptions so that no interpolation or dump prints it.
public struct AgentToken: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    package let value: String
    package init(_ value: String) { self.value = value }
    public var description: String { "[REDACTED]" }
    public var debugDescription: String { "[REDACTED]" }
}

/// `user[:group]`, names or numeric ids, resolved when the configuration is read.
public struct FileOwner: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32?
    /// As configured, for messages.
    public var text: String

    /// Resolves `text` through the user and group databases; nil when it names nobody.
    package init?(_ text: String) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let user = parts.first, !user.isEmpty else { return nil }
        if let uid = UInt32(user) {
            self.uid = uid
        } else if let entry = getpwnam(user) {
            self.uid = entry.pointee.pw_uid
        } else {
            return nil
        }
        if parts.count == 2 {
            let group = parts[1]
            if let gid = UInt32(group) {
                self.gid = gid
            } else if !group.isEmpty, let entry = getgrnam(group) {
                self.gid = entry.pointee.gr_gid
            } else {
                return nil
            }
        } else {
            self.gid = nil
        }
        self.text = text
    }
}

/// What the command line gave (`nil`: not given). The executable fills it; tests build it.
public struct AgentFlags: Sendable {
    public var config: String?
    public var url: String?
    public var tokenFile: String?
    public var instance: String?
    public var group: String?
    public var credential: String?
    public var file: String?
    public var mode: String?
    public var owner: String?
    public var template: String?
    public var templateOutput: String?
    public var reload: String?
    public var check: String?
    public var commandTimeout: String?
    public var stateFile: String?
    public var once = false
    public var pollInterval: String?
    public var wait: String?
    public var caFile: String?

    public init() {}
}

/// Every problem found in a configuration, each with the setting it is about.
public struct AgentConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Problem: Sendable, Equatable {
        /// The flag, variable or config-file field, e.g. `--mode`, `credentials[0].group`.
        public var field: String
        public var reason: String

        public init(field: String, reason: String) {
            self.field = field
            self.reason = reason
        }
    }

    public var problems: [Problem]

    public init(problems: [Problem]) { self.problems = problems }

    public var description: String { self.problems.map { "\($0.field): \($0.reason)" }.joined(separator: "\n") }
}

extension AgentConfiguration {
    /// Flags override `ROTOR_AGENT_*` variables, which override the config file. Reads the token
    /// file, the config file and the template; resolves the owner. Reports every problem at once.
    public static func resolve(flags: AgentFlags, environment: [String: String]) throws(AgentConfigurationError) -> AgentConfiguration {
        var resolver = Resolver(flags: flags, environment: environment)
        return try resolver.resolve()
    }
}

/// One pass over the sources, collecting problems rather than stopping at the first.
private struct Resolver {
    let flags: AgentFlags
    let environment: [String: String]
    var problems: [AgentConfigurationError.Problem] = []
    var file = AgentConfigFile()

    init(flags: AgentFlags, environment: [String: String]) {
        self.flags = flags
        self.environment = environment
    }

    mutating func fail(_ field: String, _ reason: String) { self.problems.append(.init(field: field, reason: reason)) }

    /// A setting from the flag, else the variable, else the config file, with the name to blame.
    func setting(_ flag: String?, flagName: String, variable: String, file: String?, fileField: String) -> (value: String, field: String)? {
        if let flag { return (flag, flagName) }
        if let value = self.environment[variable], !value.isEmpty { return (value, variable) }
        if let file { return (file, fileField) }
        return nil
    }

    mutating func resolve() throws(AgentConfigurationError) -> AgentConfiguration {
        if let path = self.flags.config ?? self.environment["ROTOR_AGENT_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 }) {
            let field = self.flags.config != nil ? "--config" : "ROTOR_AGENT_CONFIG"
            do {
                self.file = try AgentConfigFile.load(path)
            } catch {
                self.fail(field, error.description)
            }
        }

        // URL
        var url = URL(string: "http://invalid")!
        if let (text, field) = self.setting(self.flags.url, flagName: "--url", variable: "ROTOR_AGENT_URL", file: self.file.url, fileField: "url") {
            if let parsed = URL(string: text), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https",
                let host = parsed.host, !host.isEmpty, parsed.query == nil, parsed.user == nil
            {
                url = parsed
            } else {
                self.fail(field, "'\(text)' is not an http:// or https:// URL without a query or credentials")
            }
        } else {
            self.fail("--url", "is required (or ROTOR_AGENT_URL, or url in the config file): Rotor's base URL")
        }

        // Token: a file or the environment, never a flag (it would show in the process list).
        var token = AgentToken("")
        let tokenFile = self.setting(
            self.flags.tokenFile, flagName: "--token-file", variable: "ROTOR_AGENT_TOKEN_FILE", file: self.file.tokenFile, fileField: "token_file")
        let tokenVariable = self.environment["ROTOR_AGENT_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        switch (tokenFile, tokenVariable) {
        case (let (path, field)?, nil):
            if let data = FileManager.default.contents(atPath: path) {
                let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if text.isEmpty {
                    self.fail(field, "the token file \(path) is empty")
                } else if text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }) {
                    self.fail(field, "the token file \(path) holds more than one token (whitespace inside)")
                } else {
                    token = AgentToken(text)
                }
            } else {
                self.fail(field, "cannot read the token file \(path)")
            }
        case (nil, let value?):
            if value.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }) {
                self.fail("ROTOR_AGENT_TOKEN", "must be one token without whitespace")
            } else {
                token = AgentToken(value)
            }
        case (_?, _?):
            self.fail("ROTOR_AGENT_TOKEN", "give the token either in a file (--token-file, ROTOR_AGENT_TOKEN_FILE, token_file) or in ROTOR_AGENT_TOKEN, not both")
        case (nil, nil):
            self.fail("--token-file", "is required (or ROTOR_AGENT_TOKEN_FILE, token_file in the config file, or the token in ROTOR_AGENT_TOKEN)")
        }

        // Instance
        let instanceSetting = self.setting(
            self.flags.instance, flagName: "--instance", variable: "ROTOR_AGENT_INSTANCE", file: self.file.instance, fileField: "instance")
        let instance = instanceSetting?.value ?? ProcessInfo.processInfo.hostName
        if !AgentAcknowledgement.isValidInstance(instance) {
            self.fail(instanceSetting?.field ?? "--instance", "'\(instance)' must be 1–128 characters of [A-Za-z0-9._:-]\(instanceSetting == nil ? " (the host name is not; set --instance)" : "")")
        }

        // Durations
        let commandTimeout = self.duration(
            self.flags.commandTimeout, "--command-timeout", "ROTOR_AGENT_COMMAND_TIMEOUT", self.file.commandTimeout, "command_timeout",
            default: .seconds(30), within: .milliseconds(1) ... .seconds(3600))
        let pollInterval = self.duration(
            self.flags.pollInterval, "--poll-interval", "ROTOR_AGENT_POLL_INTERVAL", self.file.pollInterval, "poll_interval",
            default: .seconds(5), within: .seconds(1) ... .seconds(3600))
        let wait = self.duration(
            self.flags.wait, "--wait", "ROTOR_AGENT_WAIT", self.file.wait, "wait", default: .seconds(60), within: .zero ... .seconds(3600))

        // Credentials
        let defaultMode = self.mode(self.flags.mode, "--mode", "ROTOR_AGENT_MODE", self.file.mode, "mode") ?? 0o600
        let defaultOwner = self.owner(self.flags.owner, "--owner", "ROTOR_AGENT_OWNER", self.file.owner, "owner")
        let credentials = self.credentials(defaultMode: defaultMode, defaultOwner: defaultOwner)

        // Template
        var template: AgentConfiguration.Template?
        let source = self.setting(self.flags.template, flagName: "--template", variable: "ROTOR_AGENT_TEMPLATE", file: self.file.template?.source, fileField: "template.source")
        let output = self.setting(
            self.flags.templateOutput, flagName: "--template-output", variable: "ROTOR_AGENT_TEMPLATE_OUTPUT", file: self.file.template?.output,
            fileField: "template.output")
        switch (source, output) {
        case (let (sourcePath, sourceField)?, let (outputPath, outputField)?):
            let mode = self.mode(nil, "", "", self.file.template?.mode, "template.mode") ?? defaultMode
            let owner = self.owner(nil, "", "", self.file.template?.owner, "template.owner") ?? defaultOwner
            let sink = self.sink(outputPath, field: outputField, mode: mode, owner: owner)
            if let data = FileManager.default.contents(atPath: sourcePath) {
                do {
                    let parsed = try KeyTemplate(parsing: String(decoding: data, as: UTF8.self))
                    let names = Set(credentials.map(\.name))
                    for name in parsed.names.sorted() where !names.contains(name) {
                        self.fail(sourceField, "{{credential.\(name)}} names no configured credential (known: \(names.sorted().joined(separator: ", ")))")
                    }
                    if let sink { template = .init(source: sourcePath, template: parsed, output: sink) }
                } catch {
                    self.fail(sourceField, "\(sourcePath): \(error)")
                }
            } else {
                self.fail(sourceField, "cannot read the template \(sourcePath)")
            }
        case (let (_, field)?, nil):
            self.fail(field, "needs --template-output (template.output): where the rendered template goes")
        case (nil, let (_, field)?):
            self.fail(field, "needs --template (template.source): the template to render")
        case (nil, nil):
            break
        }
        for (index, credential) in credentials.enumerated() where credential.file == nil && template == nil {
            let field = self.file.credentials == nil ? "--file" : "credentials[\(index)].file"
            self.fail(field, "is required for \(credential.id): where to write its key (or render it through a template)")
        }
        var paths: [String: String] = [:]
        for sink in credentials.compactMap(\.file) + (template.map { [$0.output] } ?? []) {
            if paths.updateValue(sink.path, forKey: sink.path) != nil { self.fail("file", "\(sink.path) is written twice") }
        }

        // Commands, state file, CA file
        let reload = self.command(self.flags.reload, "--reload", "ROTOR_AGENT_RELOAD", self.file.reload, "reload")
        let check = self.command(self.flags.check, "--check", "ROTOR_AGENT_CHECK", self.file.check, "check")
        var stateFile: String?
        if let (path, field) = self.setting(self.flags.stateFile, flagName: "--state-file", variable: "ROTOR_AGENT_STATE_FILE", file: self.file.stateFile, fileField: "state_file") {
            stateFile = self.checkedPath(path, field: field)
        }
        var caFile: String?
        if let (path, field) = self.setting(self.flags.caFile, flagName: "--ca-file", variable: "ROTOR_AGENT_CA_FILE", file: self.file.caFile, fileField: "ca_file") {
            if FileManager.default.isReadableFile(atPath: path) { caFile = path } else { self.fail(field, "cannot read the CA file \(path)") }
        }
        let once = self.flags.once || ["1", "true", "yes"].contains(self.environment["ROTOR_AGENT_ONCE"]?.lowercased() ?? "")

        guard self.problems.isEmpty else { throw AgentConfigurationError(problems: self.problems) }
        return AgentConfiguration(
            url: url, token: token, instance: instance, credentials: credentials, template: template, reload: reload, check: check,
            commandTimeout: commandTimeout, stateFile: stateFile, once: once, pollInterval: pollInterval, wait: wait, caFile: caFile)
    }

    mutating func credentials(defaultMode: UInt16, defaultOwner: FileOwner?) -> [AgentConfiguration.Credential] {
        var result: [AgentConfiguration.Credential] = []
        if let entries = self.file.credentials {
            if self.flags.credential != nil || self.flags.group != nil || self.flags.file != nil {
                self.fail("--credential", "the config file lists credentials; --credential, --group and --file are for a single one without it")
            }
            if entries.isEmpty { self.fail("credentials", "lists no credential") }
            for (index, entry) in entries.enumerated() {
                let prefix = "credentials[\(index)]"
                guard let id = entry.credential else {
                    self.fail("\(prefix).credential", "is required: the credential's id (cred_…)")
                    continue
                }
                let mode = self.mode(nil, "", "", entry.mode, "\(prefix).mode") ?? defaultMode
                let owner = self.owner(nil, "", "", entry.owner, "\(prefix).owner") ?? defaultOwner
                let credential = self.credential(
                    id: (id, "\(prefix).credential"), name: entry.name.map { ($0, "\(prefix).name") }, group: entry.group.map { ($0, "\(prefix).group") },
                    file: entry.file.map { ($0, "\(prefix).file") }, mode: mode, owner: owner, missingGroupField: "\(prefix).group")
                if let credential { result.append(credential) }
            }
        } else {
            let id = self.setting(self.flags.credential, flagName: "--credential", variable: "ROTOR_AGENT_CREDENTIAL", file: nil, fileField: "")
            let group = self.setting(self.flags.group, flagName: "--group", variable: "ROTOR_AGENT_GROUP", file: nil, fileField: "")
            let file = self.setting(self.flags.file, flagName: "--file", variable: "ROTOR_AGENT_FILE", file: nil, fileField: "")
            guard let id else {
                self.fail("--credential", "is required (or ROTOR_AGENT_CREDENTIAL, or credentials in the config file): the id of the credential to serve")
                return []
            }
            if let credential = self.credential(id: id, name: nil, group: group, file: file, mode: defaultMode, owner: defaultOwner, missingGroupField: "--group") {
                result.append(credential)
            }
        }
        var ids = Set<String>()
        var names = Set<String>()
        for credential in result {
            if !ids.insert(credential.id).inserted { self.fail("credentials", "\(credential.id) is listed twice") }
            if !names.insert(credential.name).inserted { self.fail("credentials", "the name \(credential.name) is given twice") }
        }
        return result
    }

    mutating func credential(
        id: (String, String), name: (String, String)?, group: (String, String)?, file: (String, String)?, mode: UInt16, owner: FileOwner?,
        missingGroupField: String
    ) -> AgentConfiguration.Credential? {
        var valid = true
        if CredentialID(id.0) == nil {
            self.fail(id.1, "'\(id.0)' is not a credential id (cred_ and 26 characters of 0-9, a-z)")
            valid = false
        }
        if let name, !Target.isValidGroup(name.0) {
            self.fail(name.1, "'\(name.0)' must be 1–64 characters of [A-Za-z0-9._-]")
            valid = false
        }
        if let group {
            if !Target.isValidGroup(group.0) {
                self.fail(group.1, "'\(group.0)' must be 1–64 characters of [A-Za-z0-9._-]")
                valid = false
            }
        } else {
            self.fail(missingGroupField, "is required: the credential's agent group this instance serves")
            valid = false
        }
        var sink: AgentConfiguration.FileSink?
        if let file {
            sink = self.sink(file.0, field: file.1, mode: mode, owner: owner)
            if sink == nil { valid = false }
        }
        guard valid, let group else { return nil }
        return .init(id: id.0, name: name?.0 ?? id.0, group: group.0, file: sink)
    }

    mutating func sink(_ path: String, field: String, mode: UInt16, owner: FileOwner?) -> AgentConfiguration.FileSink? {
        guard let checked = self.checkedPath(path, field: field) else { return nil }
        return .init(path: checked, mode: mode, owner: owner)
    }

    /// An absolute path whose directory exists (the agent writes beside it, then renames).
    mutating func checkedPath(_ path: String, field: String) -> String? {
        guard !path.isEmpty, !path.hasSuffix("/") else {
            self.fail(field, "'\(path)' is not a file path")
            return nil
        }
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let directory = (absolute as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            self.fail(field, "the directory \(directory) does not exist")
            return nil
        }
        return (absolute as NSString).standardizingPath
    }

    mutating func duration(
        _ flag: String?, _ flagName: String, _ variable: String, _ file: String?, _ fileField: String, default value: Duration,
        within range: ClosedRange<Duration>
    ) -> Duration {
        guard let (text, field) = self.setting(flag, flagName: flagName, variable: variable, file: file, fileField: fileField) else { return value }
        guard let duration = AgentDuration.parse(text) else {
            self.fail(field, "'\(text)' is not a duration (e.g. 5s, 500ms, 2m, PT60S)")
            return value
        }
        guard range.contains(duration) else {
            self.fail(field, "\(AgentDuration.text(duration)) is out of range: from \(AgentDuration.text(range.lowerBound)) to \(AgentDuration.text(range.upperBound))")
            return value
        }
        return duration
    }

    mutating func mode(_ flag: String?, _ flagName: String, _ variable: String, _ file: String?, _ fileField: String) -> UInt16? {
        guard let (text, field) = self.setting(flag, flagName: flagName, variable: variable, file: file, fileField: fileField) else { return nil }
        guard (1...4).contains(text.count), let mode = UInt16(text, radix: 8), mode <= 0o777 else {
            self.fail(field, "'\(text)' is not an octal file mode from 0000 to 0777 (e.g. 0600)")
            return nil
        }
        if mode & 0o600 != 0o600 { self.fail(field, "'\(text)' must let the owner read and write the file (0600 at least)") }
        return mode
    }

    mutating func owner(_ flag: String?, _ flagName: String, _ variable: String, _ file: String?, _ fileField: String) -> FileOwner? {
        guard let (text, field) = self.setting(flag, flagName: flagName, variable: variable, file: file, fileField: fileField) else { return nil }
        guard let owner = FileOwner(text) else {
            self.fail(field, "'\(text)' names no user[:group] on this host")
            return nil
        }
        return owner
    }

    mutating func command(_ flag: String?, _ flagName: String, _ variable: String, _ file: String?, _ fileField: String) -> String? {
        guard let (text, field) = self.setting(flag, flagName: flagName, variable: variable, file: file, fileField: fileField) else { return nil }
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            self.fail(field, "is empty: leave it out to run no command")
            return nil
        }
        return text
    }
}

/// `--config agent.json`: the JSON form of the flags, with a list of credentials.
struct AgentConfigFile: Decodable {
    struct Entry: Decodable {
        var credential: String?
        var name: String?
        var group: String?
        var file: String?
        var mode: String?
        var owner: String?
    }

    struct TemplateEntry: Decodable {
        var source: String?
        var output: String?
        var mode: String?
        var owner: String?
    }

    var url: String?
    var tokenFile: String?
    var instance: String?
    var stateFile: String?
    var caFile: String?
    var credentials: [Entry]?
    var template: TemplateEntry?
    var reload: String?
    var check: String?
    var commandTimeout: String?
    var pollInterval: String?
    var wait: String?
    var mode: String?
    var owner: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case url, instance, credentials, template, reload, check, wait, mode, owner
        case tokenFile = "token_file"
        case stateFile = "state_file"
        case caFile = "ca_file"
        case commandTimeout = "command_timeout"
        case pollInterval = "poll_interval"
    }

    static let entryKeys: Set<String> = ["credential", "name", "group", "file", "mode", "owner"]
    static let templateKeys: Set<String> = ["source", "output", "mode", "owner"]

    init() {}

    struct LoadError: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads and decodes `path`; an unknown field is an error, so that a misspelt one is not
    /// silently ignored.
    static func load(_ path: String) throws(LoadError) -> AgentConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw LoadError(description: "cannot read the config file \(path)") }
        guard let object = try? JSONSerialization.jsonObject(with: data) else { throw LoadError(description: "\(path) is not JSON") }
        guard let root = object as? [String: Any] else { throw LoadError(description: "\(path) must hold a JSON object") }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        var unknown = root.keys.filter { !known.contains($0) }
        for (index, entry) in ((root["credentials"] as? [Any]) ?? []).enumerated() {
            unknown += ((entry as? [String: Any])?.keys.filter { !entryKeys.contains($0) } ?? []).map { "credentials[\(index)].\($0)" }
        }
        unknown += ((root["template"] as? [String: Any])?.keys.filter { !templateKeys.contains($0) } ?? []).map { "template.\($0)" }
        guard unknown.isEmpty else { throw LoadError(description: "\(path): unknown field(s) \(unknown.sorted().joined(separator: ", "))") }
        do {
            return try JSONDecoder().decode(AgentConfigFile.self, from: data)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let field = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: ["."])
            throw LoadError(description: "\(path): \(field.isEmpty ? "a field" : field) must be a string (or a list or object where one is expected)")
        } catch {
            throw LoadError(description: "\(path): \(error)")
        }
    }
}
