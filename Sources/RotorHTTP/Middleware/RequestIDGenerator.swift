import Synchronization

/// Request ids: a random per-process prefix and a counter. Unique within a process, unlikely to
/// collide across restarts, and far cheaper per request than a random UUID.
enum RequestIDGenerator {
    private static let prefix: String = {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<8).map { _ in alphabet[Int(generator.next(upperBound: UInt(alphabet.count)))] })
    }()
    private static let counter = Atomic<UInt64>(0)

    static func next() -> String {
        let value = counter.add(1, ordering: .relaxed).newValue
        return "req_\(prefix)\(String(value, radix: 36))"
    }
}
