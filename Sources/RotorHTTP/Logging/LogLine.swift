#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging

/// What Rotor's log handlers share: the event's metadata as one sorted list, and the clock.
enum LogLine {
    typealias Entry = (key: String, value: Logger.MetadataValue)

    /// The handler's metadata, then the provider's, then the event's own, later ones winning on
    /// the same key (as swift-log's handlers merge them), plus `error.message` and `error.type`
    /// for an event that carries an error; sorted by key, so that lines are stable and easy to
    /// compare. No dictionary is built: a request's line has a handful of keys.
    static func entries(base: Logger.Metadata, provider: Logger.MetadataProvider?, event: LogEvent) -> [Entry] {
        let provided = provider?.get()
        let explicit = event.metadata
        var entries: [Entry] = []
        entries.reserveCapacity(base.count + (provided?.count ?? 0) + (explicit?.count ?? 0) + 2)
        for (key, value) in base where provided?[key] == nil && explicit?[key] == nil {
            entries.append((key, value))
        }
        if let provided {
            for (key, value) in provided where explicit?[key] == nil {
                entries.append((key, value))
            }
        }
        if let explicit {
            for (key, value) in explicit { entries.append((key, value)) }
        }
        if let error = event.error {
            entries.removeAll { $0.key == "error.message" || $0.key == "error.type" }
            entries.append(("error.message", .string("\(error)")))
            entries.append(("error.type", .string(String(reflecting: type(of: error)))))
        }
        entries.sort { $0.key < $1.key }
        return entries
    }

    /// The wall-clock time, in Unix seconds and nanoseconds.
    static func now() -> (seconds: Int, nanoseconds: Int) {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return (Int(spec.tv_sec), Int(spec.tv_nsec))
    }

    /// Whether a line at `level` is written at once rather than with the next batch
    /// (``LogSink/write(_:urgent:)``): anything an operator may be reading as it happens.
    static func isUrgent(_ level: Logger.Level) -> Bool {
        level >= .warning
    }
}
