import Foundation
import NIOSSL
import Synchronization

/// The listener's TLS identity: a certificate chain and its private key, read from PEM files.
///
/// ``HTTPServer`` takes the current context for each connection it accepts, so ``reload()``
/// changes what new connections are served with; connections already open keep the certificate
/// they were accepted with. A pair that fails to load never replaces the one in force.
public final class ServerTLS: Sendable {
    /// The PEM file holding the certificate, then any intermediates.
    public let certificateFile: String
    /// The PEM file holding the certificate's private key.
    public let keyFile: String
    private let current: Mutex<Loaded>

    private struct Loaded: Sendable {
        let context: NIOSSLContext
        let summary: String
    }

    /// Reads and checks both files; throws every problem found, naming the file and never its
    /// contents.
    public init(certificateFile: String, keyFile: String) throws(ServerTLSError) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.current = Mutex(try Self.load(certificateFile: certificateFile, keyFile: keyFile))
    }

    /// Reads both files again. On success new connections get the new pair and the new
    /// certificate's ``summary`` is returned; on failure the pair in force stays.
    @discardableResult
    public func reload() throws(ServerTLSError) -> String {
        let loaded = try Self.load(certificateFile: self.certificateFile, keyFile: self.keyFile)
        self.current.withLock { $0 = loaded }
        return loaded.summary
    }

    /// The certificate in force, for logs: its serial number and expiry.
    public var summary: String { self.current.withLock { $0.summary } }

    /// The context for a connection accepted now.
    var context: NIOSSLContext { self.current.withLock { $0.context } }

    private static func load(certificateFile: String, keyFile: String) throws(ServerTLSError) -> Loaded {
        var problems: [ServerTLSError.Problem] = []
        var chain: [NIOSSLCertificate] = []
        if let bytes = FileManager.default.contents(atPath: certificateFile) {
            // NIOSSL's own errors are not passed on: a parser's message could quote the file.
            chain = (try? NIOSSLCertificate.fromPEMBytes(Array(bytes))) ?? []
            if chain.isEmpty {
                problems.append(.init(file: .certificate, path: certificateFile, reason: "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"))
            } else if let leaf = chain.first, Double(leaf.notValidAfter) < Date().timeIntervalSince1970 {
                problems.append(.init(file: .certificate, path: certificateFile, reason: "holds a certificate that expired at \(Self.date(leaf.notValidAfter))"))
            }
        } else {
            problems.append(.init(file: .certificate, path: certificateFile, reason: "cannot be read"))
        }
        var key: NIOSSLPrivateKey?
        if let bytes = FileManager.default.contents(atPath: keyFile) {
            key = try? NIOSSLPrivateKey(bytes: Array(bytes), format: .pem)
            if key == nil {
                problems.append(.init(file: .key, path: keyFile, reason: "holds no unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)"))
            }
        } else {
            problems.append(.init(file: .key, path: keyFile, reason: "cannot be read"))
        }
        guard problems.isEmpty, let leaf = chain.first, let key else { throw ServerTLSError(problems: problems) }

        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["http/1.1"]
        let context: NIOSSLContext
        do {
            // BoringSSL refuses a private key whose public half is not the certificate's.
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw ServerTLSError(problems: [
                .init(file: .key, path: keyFile, reason: "does not hold the private key of the certificate in '\(certificateFile)'")
            ])
        }
        let serial = leaf.serialNumber.map { String(format: "%02x", $0) }.joined()
        return Loaded(context: context, summary: "serial \(serial), expires \(Self.date(leaf.notValidAfter))")
    }

    private static func date(_ time: time_t) -> String {
        Date(timeIntervalSince1970: Double(time)).formatted(.iso8601)
    }
}

/// Why a certificate and key pair could not be used; names files, never their contents.
public struct ServerTLSError: Error, Sendable, CustomStringConvertible {
    /// Which of the two files a problem is in.
    public enum File: Sendable, Hashable {
        /// The certificate chain.
        case certificate
        /// The private key.
        case key
    }

    /// One problem with one file.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// The file the problem is in.
        public var file: File
        /// Its path.
        public var path: String
        /// What is wrong, e.g. `cannot be read`.
        public var reason: String

        /// `the certificate file '/etc/rotor/cert.pem' cannot be read`.
        public var description: String { "the \(self.file == .certificate ? "certificate" : "private key") file '\(self.path)' \(self.reason)" }
    }

    /// Every problem found.
    public var problems: [Problem]

    /// The problems, separated by semicolons.
    public var description: String { self.problems.map(\.description).joined(separator: "; ") }
}
