public import Logging
public import NIOCore

extension HTTPServer {
    /// Runs a server until `body` returns, then shuts it down gracefully and waits for it.
    ///
    /// `body` receives the bound address, so `port: 0` works. Used by tests and by commands that
    /// host a server in-process for a while (`rotor demo`).
    public static func withRunningServer<T: Sendable>(
        configuration: HTTPServerConfiguration,
        responder: RouterResponder,
        logger: Logger,
        _ body: @Sendable (SocketAddress) async throws -> T
    ) async throws -> T {
        let (bound, continuation) = AsyncStream.makeStream(of: SocketAddress.self)
        let server = HTTPServer(configuration: configuration, responder: responder, logger: logger) { address in
            continuation.yield(address)
            continuation.finish()
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { continuation.finish() }
                try await server.run()
            }
            var addresses = bound.makeAsyncIterator()
            guard let address = await addresses.next() else {
                // run() ended before binding: surface its error.
                try await group.waitForAll()
                throw CancellationError()
            }
            let result: Result<T, any Error>
            do {
                result = .success(try await body(address))
            } catch {
                result = .failure(error)
            }
            await server.shutdownGracefully()
            try await group.waitForAll()
            return try result.get()
        }
    }
}
