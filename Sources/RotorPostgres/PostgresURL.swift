import Foundation

/// A `ROTOR_DATABASE_URL`: `postgres://user:password@host:port/database`, optionally with
/// `?sslmode=disable|prefer|require|verify-ca|verify-full` (default `prefer`, or `require` with
/// `sslrootcert`), `?sslrootcert=/path/ca.pem` and `?search_path=schema`.
///
/// ``description`` never contains the password, so the value can be logged and shown in errors.
public struct PostgresURL: Sendable, Hashable, CustomStringConvertible {
    /// How to use TLS, as libpq's `sslmode` names it.
    public enum TLSMode: String, Sendable, Hashable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it. An attacker on the path can answer that it does not,
        /// and the connection continues in clear.
        case prefer
        /// TLS or no connection; the server's certificate must chain to a trusted CA (the system's,
        /// or `sslrootcert`'s) and name the host. Stricter than libpq's `require`, which checks
        /// nothing: it is libpq's `verify-full`.
        case require
        /// As `require`, but the host name is not checked: any certificate the CA signed is accepted.
        case verifyCA = "verify-ca"
        /// The same as `require`, under libpq's name for it.
        case verifyFull = "verify-full"
    }

    /// The server's host name or address.
    public var host: String
    /// The server's port.
    public var port: Int
    /// The role to log in as.
    public var username: String
    /// Its password, if any. Never printed.
    public var password: String?
    /// The database.
    public var database: String
    /// TLS use.
    public var tlsMode: TLSMode
    /// The schema to work in (`search_path`), when not the server's default.
    public var searchPath: String?
    /// `sslrootcert`: a PEM file of the CA certificates to trust instead of the system's (a
    /// private CA). Read when connecting; see ``makeTLSConfiguration()``.
    public var rootCertificateFile: String?

    /// Creates a URL from its parts.
    public init(
        host: String, port: Int = 5432, username: String, password: String?, database: String,
        tlsMode: TLSMode = .prefer, searchPath: String? = nil, rootCertificateFile: String? = nil
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tlsMode = tlsMode
        self.searchPath = searchPath
        self.rootCertificateFile = rootCertificateFile
    }

    /// Parses `text`; throws a ``PostgresStoreError`` that names what is wrong, never the password.
    public init(parsing text: String) throws(PostgresStoreError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
            ["postgres", "postgresql"].contains(scheme.lowercased())
        else {
            throw PostgresStoreError("the database URL is not a postgres:// URL")
        }
        guard let host = components.host, !host.isEmpty else {
            throw PostgresStoreError("the database URL has no host")
        }
        guard let username = components.user.flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw PostgresStoreError("the database URL has no user name")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw PostgresStoreError("the database URL names no database (postgres://user:password@host:port/database)")
        }
        var tlsMode: TLSMode?
        var searchPath: String?
        var rootCertificateFile: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw PostgresStoreError("the database URL's sslmode must be disable, prefer, require, verify-ca or verify-full")
                }
                tlsMode = mode
            case "search_path":
                guard let value = item.value, value.range(of: "^[A-Za-z_][A-Za-z0-9_]{0,62}$", options: .regularExpression) != nil else {
                    throw PostgresStoreError("the database URL's search_path must be one schema name")
                }
                searchPath = value
            case "sslrootcert":
                guard let value = item.value, !value.isEmpty else {
                    throw PostgresStoreError("the database URL's sslrootcert must name a PEM file of CA certificates")
                }
                rootCertificateFile = value
            default:
                throw PostgresStoreError("the database URL has an unknown parameter '\(item.name)' (known: sslmode, sslrootcert, search_path)")
            }
        }
        // A CA given is a CA to check: without TLS, or with a TLS that an attacker can refuse,
        // it would never be consulted.
        if rootCertificateFile != nil, let mode = tlsMode, mode == .disable || mode == .prefer {
            throw PostgresStoreError(
                "the database URL's sslrootcert needs sslmode=require, verify-ca or verify-full (with \(mode.rawValue) the server's certificate "
                    + (mode == .disable ? "is never seen)" : "goes unchecked whenever an attacker on the path answers that TLS is off)"))
        }
        self.init(
            host: host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host,
            port: components.port ?? 5432,
            username: components.percentEncodedUser?.removingPercentEncoding ?? username,
            password: components.percentEncodedPassword?.removingPercentEncoding,
            database: database.removingPercentEncoding ?? database,
            tlsMode: tlsMode ?? (rootCertificateFile == nil ? .prefer : .require),
            searchPath: searchPath,
            rootCertificateFile: rootCertificateFile
        )
    }

    /// The URL with the password replaced by `***`.
    public var description: String {
        let credentials = self.password == nil ? self.username : "\(self.username):***"
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        var text = "postgres://\(credentials)@\(host):\(self.port)/\(self.database)"
        var parameters: [String] = []
        if self.tlsMode != .prefer { parameters.append("sslmode=\(self.tlsMode.rawValue)") }
        if let rootCertificateFile = self.rootCertificateFile { parameters.append("sslrootcert=\(rootCertificateFile)") }
        if let searchPath = self.searchPath { parameters.append("search_path=\(searchPath)") }
        if !parameters.isEmpty { text += "?" + parameters.joined(separator: "&") }
        return text
    }
}
