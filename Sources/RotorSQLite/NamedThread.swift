import Foundation

extension Thread {
    /// Starts a thread of the store's own, named `name` so that `top -H`, `perf` and a stack dump
    /// tell it from Swift's and NIO's threads, running `body`.
    ///
    /// The name is set from inside the thread: on Linux, Foundation drops a name given before
    /// `start()`. Linux keeps at most 15 bytes of it and refuses a longer one.
    static func start(named name: String, _ body: @escaping @Sendable () -> Void) {
        precondition(name.utf8.count <= 15, "Linux refuses thread names over 15 bytes: \(name)")
        Thread {
            Thread.current.name = name
            body()
        }.start()
    }
}
