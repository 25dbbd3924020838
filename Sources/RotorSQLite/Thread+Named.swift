import Foundation

extension Thread {
    /// Starts a thread that runs `body`, named `name` where the system shows it (`top -H`,
    /// debuggers, `/proc`). Foundation on Linux does not hand the system a name set before
    /// `start()`; it does one the thread sets itself. Linux keeps at most 15 bytes of it.
    static func start(named name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread {
            Thread.current.name = name
            body()
        }
        thread.start()
    }
}
