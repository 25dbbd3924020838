/// Key material or another secret value in memory.
///
/// It prints, interpolates, dumps and reflects as `[REDACTED]`, so it cannot reach a log line or
/// an error message by accident; ``reveal()`` is the one deliberate way out. It is not `Codable`:
/// writing a secret anywhere has to be spelled out.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    /// Wraps `value`.
    public init(_ value: String) {
        self.value = value
    }

    /// The plaintext, for the provider call, the envelope, or the one response that may carry it.
    public func reveal() -> String { self.value }

    /// The last `count` characters, which providers show in masked listings.
    public func suffix(_ count: Int) -> String { String(self.value.suffix(count)) }

    /// `[REDACTED]`.
    public var description: String { "[REDACTED]" }
    /// `[REDACTED]`.
    public var debugDescription: String { "[REDACTED]" }
    /// A mirror with no children.
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
