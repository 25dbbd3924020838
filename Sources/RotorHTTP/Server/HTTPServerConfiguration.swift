import NIOCore

/// How the HTTP server listens and what it tolerates from clients.
public struct HTTPServerConfiguration: Sendable {
    /// The address to bind, e.g. `127.0.0.1` or `::1`.
    public var host: String
    /// The port; `0` picks a free one (tests).
    public var port: Int
    /// The largest request body accepted; larger ones get `413 payload_too_large`.
    public var maxBodySize: Int
    /// The largest request target (path and query); longer ones get `414 uri_too_long`.
    public var maxURILength: Int
    /// The largest total size of a request's headers; larger ones get `431`.
    public var maxHeaderSize: Int
    /// How long a connection may sit without starting a request (before the first one, and
    /// between keep-alive requests). This is a deadline, not a reset-on-every-byte timer, so a
    /// client trickling header bytes cannot hold a connection open.
    public var idleTimeout: Duration
    /// How long a client may take to send a request's body once its head has arrived.
    public var requestReadTimeout: Duration
    /// The listen backlog: connections the kernel completes before the server accepts them. A
    /// burst of clients larger than it gets SYN retries (seconds); the kernel caps it at
    /// `net.core.somaxconn`.
    public var backlog: Int
    /// The most connections open at once. A connection over the cap is answered `503
    /// unavailable` with `Retry-After` and closed, so a flood of connections costs a refusal
    /// each, never a hang. ``HTTPServer`` also keeps it below the process's file limit.
    public var maxConnections: Int
    /// The most requests being worked on at once. A request over the cap waits up to
    /// ``admissionWait`` for one to end (with at most as many others as the cap), else it is
    /// answered `503 unavailable` with `Retry-After` before any handler runs. A request waiting
    /// in a long-poll (``Response/deferred(_:)``) does not count while it waits: waiting costs
    /// memory, not work.
    public var maxRequestsInFlight: Int
    /// How long a request over ``maxRequestsInFlight`` may wait for a slot; zero refuses it at once.
    public var admissionWait: Duration
    /// Paths answered whatever the load (liveness): their handlers must be cheap and touch no
    /// shared resource.
    public var unlimitedPaths: Set<String>
    /// TLS on the listener; nil for plain HTTP. Each connection is accepted with the certificate
    /// in force at that moment (see ``ServerTLS/reload()``).
    public var tls: ServerTLS?

    /// The defaults: `127.0.0.1:8080`, 64 KiB bodies, 60 s idle, 30 s to send a body, 16,384
    /// connections, 512 requests in flight, `/healthz` always answered.
    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        maxBodySize: Int = 64 * 1024,
        maxURILength: Int = 8 * 1024,
        maxHeaderSize: Int = 32 * 1024,
        idleTimeout: Duration = .seconds(60),
        requestReadTimeout: Duration = .seconds(30),
        backlog: Int = 4096,
        maxConnections: Int = 16_384,
        maxRequestsInFlight: Int = 512,
        admissionWait: Duration = .seconds(1),
        unlimitedPaths: Set<String> = ["/healthz"],
        tls: ServerTLS? = nil
    ) {
        self.host = host
        self.port = port
        self.maxBodySize = maxBodySize
        self.maxURILength = maxURILength
        self.maxHeaderSize = maxHeaderSize
        self.idleTimeout = idleTimeout
        self.requestReadTimeout = requestReadTimeout
        self.backlog = backlog
        self.maxConnections = maxConnections
        self.maxRequestsInFlight = maxRequestsInFlight
        self.admissionWait = admissionWait
        self.unlimitedPaths = unlimitedPaths
        self.tls = tls
    }
}

/// A `host:port` listen address, as `ROTOR_LISTEN` and `--listen` give it.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// The host or IP literal (IPv6 without brackets).
    public var host: String
    /// The port.
    public var port: Int

    /// An address from its parts.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `127.0.0.1:8080`, `localhost:8080`, `[::1]:8080` or `:8080` (all interfaces).
    public init?(_ text: String) {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            host = text[..<colon].isEmpty ? "0.0.0.0" : text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let number = Int(port), (0...65535).contains(number) else { return nil }
        self.host = String(host)
        self.port = number
    }

    /// Whether only this machine can connect: `localhost`, an address in 127.0.0.0/8 (also
    /// IPv4-mapped) or `::1`. `0.0.0.0`, `::` and every other name or address are not.
    public var isLoopback: Bool {
        if self.host.lowercased() == "localhost" { return true }
        // SocketAddress parses IPv4 and IPv6 literals and prints them in canonical form.
        guard let canonical = (try? SocketAddress(ipAddress: self.host, port: 0))?.ipAddress?.lowercased() else { return false }
        return canonical == "::1" || canonical.hasPrefix("127.") || canonical.hasPrefix("::ffff:127.")
    }

    /// `host:port`, with brackets around IPv6 literals.
    public var description: String { self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)" }
}
