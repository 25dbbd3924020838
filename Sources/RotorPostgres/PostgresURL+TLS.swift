import Foundation
public import NIOSSL

extension PostgresURL {
    /// The TLS configuration `sslmode` and `sslrootcert` ask for; nil for `disable`.
    ///
    /// Every mode that uses TLS verifies the server's certificate chain, against `sslrootcert`'s
    /// CA certificates when given (and then only those), else the system's roots; all but
    /// `verify-ca` also check that it names the host. Throws, naming the file, when
    /// `sslrootcert` cannot be read or holds no PEM certificate.
    public func makeTLSConfiguration() throws(PostgresStoreError) -> TLSConfiguration? {
        guard self.tlsMode != .disable else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = self.tlsMode == .verifyCA ? .noHostnameVerification : .fullVerification
        if let path = self.rootCertificateFile {
            guard let bytes = FileManager.default.contents(atPath: path) else {
                throw PostgresStoreError("the database URL's sslrootcert '\(path)' cannot be read")
            }
            let certificates = (try? NIOSSLCertificate.fromPEMBytes(Array(bytes))) ?? []
            guard !certificates.isEmpty else {
                throw PostgresStoreError("the database URL's sslrootcert '\(path)' holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
            }
            configuration.trustRoots = .certificates(certificates)
        }
        return configuration
    }
}
