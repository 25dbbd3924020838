import ArgumentParser
import Foundation

/// Settings that carry a secret (`ROTOR_MASTER_KEY`, `ROTOR_ADMIN_TOKEN`, `ROTOR_DATABASE_URL`)
/// can come from a file instead, by the Docker and Kubernetes convention: `NAME_FILE` names a
/// file whose contents (without a trailing newline) are the value. A secret mounted as a file
/// stays out of `docker inspect`, the process table's environment and shell history.
enum SecretSetting {
    /// The names that take a `_FILE` variant.
    static let names = ["ROTOR_MASTER_KEY", "ROTOR_ADMIN_TOKEN", "ROTOR_DATABASE_URL"]

    /// Why a secret setting could not be read; never carries the value.
    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    /// `name`'s value from the environment or from the file `name_FILE` names; nil when neither
    /// is set. Both set, or a file that cannot be read or is empty, is a problem.
    static func value(_ name: String, in environment: [String: String]) throws(Problem) -> String? {
        let direct = environment[name].flatMap { $0.isEmpty ? nil : $0 }
        guard let path = environment[name + "_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) else { return direct }
        guard direct == nil else { throw Problem(description: "\(name) and \(name)_FILE are both set: set only one") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Problem(description: "\(name)_FILE '\(path)' cannot be read")
        }
        var text = String(decoding: data, as: UTF8.self)
        while let last = text.last, last == "\n" || last == "\r" { text.removeLast() }
        guard !text.isEmpty else { throw Problem(description: "\(name)_FILE '\(path)' is empty") }
        return text
    }

    /// ``value(_:in:)`` from this process's environment; a problem ends the command with 78.
    static func value(_ name: String, command: String) throws -> String? {
        do {
            return try self.value(name, in: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("rotor \(command): \(error)\n".utf8))
            throw ExitCode(78)
        }
    }
}
