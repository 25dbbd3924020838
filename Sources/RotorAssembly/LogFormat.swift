public import Logging
public import RotorHTTP

/// How `rotor serve` writes log lines (`ROTOR_LOG_FORMAT`): `text` (the default) or `json`.
public typealias LogFormat = LineLogHandler.Layout

extension LineLogHandler.Layout {
    /// Bootstraps swift-log with this layout at `level`, to standard error. Once per process.
    public func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            LineLogHandler.standardError(label: label, layout: self, logLevel: level)
        }
    }
}
