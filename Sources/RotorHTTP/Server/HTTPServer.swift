public import Logging
public import NIOCore
import NIOExtras
import NIOHTTP1
import NIOSSL
public import NIOPosix
public import ServiceLifecycle

/// Rotor's HTTP/1.1 server: SwiftNIO parses, ``Router`` routes, and this actor owns the
/// listening socket's life.
///
/// A `Service`: on graceful shutdown it stops accepting, lets in-flight requests finish (their
/// responses carry `Connection: close`), closes idle keep-alive connections, and returns.
public actor HTTPServer: Service {
    private enum State {
        case initial
        case running(channel: any Channel, quiescing: ServerQuiescingHelper)
        case shuttingDown(EventLoopFuture<Void>)
        case finished
    }

    private var state: State = .initial
    private let configuration: HTTPServerConfiguration
    private let responder: Responder
    private let eventLoopGroup: any EventLoopGroup
    private let onListening: @Sendable (SocketAddress) async -> Void
    /// Set when graceful shutdown begins: connections answer their current request with
    /// `Connection: close` and serve no more.
    private let draining = DrainingFlag()
    /// The server's logger.
    public nonisolated let logger: Logger

    /// Creates a server. `onListening` runs once the socket is bound, with the bound address
    /// (tests bind port 0 and learn the port there).
    public init(
        configuration: HTTPServerConfiguration,
        responder: RouterResponder,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onListening: @escaping @Sendable (SocketAddress) async -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.responder = { request in try await responder.respondDeferring(to: request) }
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onListening = onListening
    }

    /// How many task groups the open connections are spread over (see ``run()``).
    static let connectionShards = 64

    /// An accepted connection on its way to a shard; `admitted` false: over the connection cap.
    private struct Accepted: Sendable {
        let channel: HTTPConnection.Channel
        let disconnect: ClientDisconnect
        let admitted: Bool
    }

    /// Binds, then serves until graceful shutdown or cancellation.
    public func run() async throws {
        guard case .initial = self.state else {
            preconditionFailure("HTTPServer.run() called twice")
        }
        let quiescing = ServerQuiescingHelper(group: self.eventLoopGroup)
        let serverChannel = try await self.bind(quiescing: quiescing)
        // A shutdown may have been requested while binding.
        guard case .initial = self.state else {
            try? await serverChannel.channel.close()
            return
        }
        self.state = .running(channel: serverChannel.channel, quiescing: quiescing)
        if let address = serverChannel.channel.localAddress {
            await self.onListening(address)
        }

        let load = ServerLoad(
            maxConnections: min(self.configuration.maxConnections, FileLimit.raiseToMaximum() - 64),
            maxInFlight: self.configuration.maxRequestsInFlight,
            admissionWait: self.configuration.admissionWait
        )
        let connection = HTTPConnection(
            responder: self.responder, configuration: self.configuration, logger: self.logger, draining: self.draining, load: load)
        // Connections are spread over `connectionShards` task groups rather than held in one.
        // Swift's runtime keeps a group's children in a list it walks, under the parent's lock, to
        // remove a child that ends: with 10,000 connections in one group, each close walked
        // thousands of entries, and answering 10,000 waiting requests at once spent 30 % of the
        // CPU there (`rotor-bench waits`, perf). A shard's list is a 64th as long.
        let shards = (0..<Self.connectionShards).map { _ in AsyncStream<Accepted>.makeStream() }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { outer in
                for (stream, _) in shards {
                    outer.addTask { [draining = self.draining] in
                        await withDiscardingTaskGroup { group in
                            for await accepted in stream {
                                let (child, disconnect) = (accepted.channel, accepted.disconnect)
                                if accepted.admitted {
                                    group.addTask {
                                        // A graceful shutdown ends the connection's long waits as if its client had gone.
                                        let observer = draining.observe { disconnect.signal() }
                                        await connection.serve(child, disconnect: disconnect)
                                        draining.removeObserver(observer)
                                        load.closeConnection()
                                    }
                                } else {
                                    group.addTask { await connection.refuse(child) }
                                }
                            }
                        }
                    }
                }
                do {
                    try await serverChannel.executeThenClose { inbound in
                        var next = 0
                        for try await (child, disconnect) in inbound {
                            shards[next].continuation.yield(Accepted(channel: child, disconnect: disconnect, admitted: load.openConnection()))
                            next = (next + 1) % shards.count
                        }
                    }
                } catch {
                    self.logger.error("accepting connections failed", metadata: ["error": "\(error)"])
                }
                for (_, continuation) in shards { continuation.finish() }
            }
        } onGracefulShutdown: {
            Task { await self.shutdownGracefully() }
        }
        self.state = .finished
    }

    /// Stops accepting connections and waits until every open connection has finished its
    /// current request and closed.
    public func shutdownGracefully() async {
        switch self.state {
        case .initial:
            self.state = .finished
        case .running(let channel, let quiescing):
            // Before the quiesce events: a connection that is not closed by its event is busy,
            // and its request loop must see the flag when its answer is ready.
            self.draining.set()
            let promise = channel.eventLoop.makePromise(of: Void.self)
            self.state = .shuttingDown(promise.futureResult)
            quiescing.initiateShutdown(promise: promise)
            try? await promise.futureResult.get()
        case .shuttingDown(let done):
            try? await done.get()
        case .finished:
            return
        }
    }

    private func bind(quiescing: ServerQuiescingHelper) async throws -> NIOAsyncChannel<(HTTPConnection.Channel, ClientDisconnect), Never> {
        let configuration = self.configuration
        let logger = self.logger
        // An address literal needs no lookup: `bind(host:port:)` would call getaddrinfo, which
        // blocks the calling concurrency thread (and, for many servers starting at once, queues
        // them behind glibc's lock on the interface list).
        let address = try (try? SocketAddress(ipAddress: configuration.host, port: configuration.port))
            ?? SocketAddress.makeAddressResolvingHost(configuration.host, port: configuration.port)
        return try await ServerBootstrap(group: self.eventLoopGroup)
            .serverChannelOption(.backlog, value: Int32(configuration.backlog))
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { [logger] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                    try channel.pipeline.syncOperations.addHandler(AcceptErrorHandler(logger: logger))
                }
            }
            // A TCP-level option: `.socketOption(.tcp_nodelay)` would be SOL_SOCKET option 1,
            // SO_DEBUG, which needs CAP_NET_ADMIN and fails for a non-root server.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            // A connection's first read buffer: 512 bytes holds a typical request (NIO's default,
            // 2,048, grows as reads fill it either way). The HTTP decoder keeps its last buffer
            // while the connection is idle: 10,000 held waits took 11–14 MB less RSS with this.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65_536))
            .bind(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    var limits = NIOHTTPDecoderLimitConfiguration()
                    limits.maxHeaderListSize = configuration.maxHeaderSize
                    limits.maxHeaderFieldSize = configuration.maxHeaderSize
                    let pipeline = channel.pipeline.syncOperations
                    if let tls = configuration.tls {
                        // The context in force now: a reload changes what later connections get.
                        try pipeline.addHandler(NIOSSLServerHandler(context: tls.context))
                    }
                    // No pipelining assistance: ConnectionGuardHandler covers what the request
                    // loop needs of it, at a fraction of the cost (see there).
                    try pipeline.configureHTTPServerPipeline(
                        withPipeliningAssistance: false,
                        withErrorHandling: false,
                        withOutboundHeaderValidation: true,
                        withEncoderConfiguration: .init(),
                        withDecoderLimitConfiguration: limits
                    )
                    let disconnect = ClientDisconnect()
                    try pipeline.addHandler(
                        ConnectionGuardHandler(
                            idleTimeout: TimeAmount(configuration.idleTimeout),
                            requestReadTimeout: TimeAmount(configuration.requestReadTimeout),
                            disconnect: disconnect
                        )
                    )
                    let wrapped = try HTTPConnection.Channel(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                    return (wrapped, disconnect)
                }
            }
    }
}
