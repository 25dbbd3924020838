import Logging
import NIOPosix
import RotorHTTP
import ServiceLifecycle
import UnixSignals

/// Reads `ROTOR_TLS_CERT_FILE` and `ROTOR_TLS_KEY_FILE` again on SIGHUP (after a renewal), so new
/// connections get the new certificate without a restart; connections already open keep theirs.
/// A pair that does not load is logged and the pair in force stays.
struct TLSReloader: Service {
    let tls: ServerTLS
    /// Trapped before the server listens: SIGHUP's default action would end the process.
    let hangups: UnixSignalsSequence
    let logger: Logger

    func run() async throws {
        for await _ in self.hangups.cancelOnGracefulShutdown() {
            do {
                // Reading files and building a TLS context block: off the concurrency threads.
                let summary = try await NIOThreadPool.singleton.runIfActive { try self.tls.reload() }
                self.logger.notice("TLS certificate reloaded", metadata: ["reason": "SIGHUP", "certificate": "\(summary)"])
            } catch {
                self.logger.error(
                    "TLS certificate and key could not be reloaded; new connections still get the certificate loaded before",
                    metadata: ["reason": "SIGHUP", "error": "\(error)", "certificate": "\(self.tls.summary)"])
            }
        }
    }
}
