import Logging
import RotorHTTP

/// How `rotor serve` writes log lines (`ROTOR_LOG_FORMAT`).
enum LogFormat: String, CaseIterable {
    /// Human-readable lines in swift-log's layout (``TextLogHandler``), the default.
    case text
    /// One JSON object per line (``JSONLogHandler``), for log shippers.
    case json

    /// Bootstraps swift-log with this format at `level`. Once per process.
    func bootstrap(level: Logger.Level) {
        switch self {
        case .text:
            LoggingSystem.bootstrap { label in
                TextLogHandler.standardError(label: label, logLevel: level)
            }
        case .json:
            LoggingSystem.bootstrap { label in
                JSONLogHandler.standardError(label: label, logLevel: level)
            }
        }
    }
}
