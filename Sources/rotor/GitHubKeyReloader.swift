import Logging
import RotorAPI
import ServiceLifecycle
import UnixSignals

/// Reads `ROTOR_GITHUB_KEYS_FILE` again on SIGHUP and whenever the file changes (checked every
/// two seconds), so that keys GitHub adds are trusted without a restart. A file that does not
/// parse is logged and the last good keys stay in force.
struct GitHubKeyReloader: Service {
    let source: GitHubKeySource
    /// Trapped before the server listens, so no SIGHUP sent once it answers is missed (or, before
    /// any trap, ends the process).
    let hangups: UnixSignalsSequence
    let logger: Logger
    var interval: Duration = .seconds(2)

    func run() async throws {
        let hangups = self.hangups
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in hangups.cancelOnGracefulShutdown() { self.reload(because: "SIGHUP") }
            }
            group.addTask {
                while (try? await Task.sleep(for: self.interval)) != nil, !Task.isShuttingDownGracefully {
                    if self.source.fileChanged() { self.reload(because: "the file changed") }
                }
            }
            // Until shutdown, or cancellation (which throws): either way the watchers stop.
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    private func reload(because reason: String) {
        do {
            let keys = try self.source.reload()
            self.logger.notice(
                "GitHub secret-scanning keys reloaded",
                metadata: ["reason": "\(reason)", "keys": "\(keys?.identifiers.joined(separator: ",") ?? "")"])
        } catch {
            self.logger.warning(
                "ROTOR_GITHUB_KEYS_FILE could not be reloaded; the keys loaded before stay in force",
                metadata: ["reason": "\(reason)", "error": "\(error)"])
        }
    }
}
