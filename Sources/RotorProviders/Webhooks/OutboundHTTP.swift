public import AsyncHTTPClient
import Foundation
public import NIOCore
public import NIOHTTP1
import NIOPosix
import NIOSSL
public import RotorCore

/// Turns a host name into addresses for ``OutboundHTTP``.
public protocol HostResolver: Sendable {
    /// Every address `host` resolves to, in the resolver's order of preference.
    func addresses(of host: String) async throws -> [IPAddress]
}

/// The system's resolver (`getaddrinfo`: /etc/hosts, then DNS), on NIO's blocking-work pool,
/// never on a cooperative thread.
public struct SystemHostResolver: HostResolver {
    public init() {}

    public func addresses(of host: String) async throws -> [IPAddress] {
        try await NIOThreadPool.singleton.runIfActive { try Self.lookUp(host) }
    }

    struct LookupFailed: Error {}

    static func lookUp(_ host: String) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { throw LookupFailed() }
        defer { freeaddrinfo(first) }
        var addresses: [IPAddress] = []
        for entry in sequence(first: first, next: { $0.pointee.ai_next }) {
            guard let socketAddress = entry.pointee.ai_addr else { continue }
            let address: IPAddress?
            switch Int32(socketAddress.pointee.sa_family) {
            case AF_INET:
                address = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                    var value = pointer.pointee.sin_addr
                    return IPAddress(bytes: withUnsafeBytes(of: &value) { Array($0) })
                }
            case AF_INET6:
                address = socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                    var value = pointer.pointee.sin6_addr
                    return IPAddress(bytes: withUnsafeBytes(of: &value) { Array($0) })
                }
            default:
                address = nil
            }
            if let address, !addresses.contains(address) { addresses.append(address) }
        }
        return addresses
    }
}

/// Why an outbound request got no answer, as the short class that job events, delivery logs and
/// API answers show. Never the operating system's detail ("Connection refused (errno: 111)"):
/// that would let whoever may set a URL map which ports answer inside the network.
public enum OutboundFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// Every address of the host is one the ``OutboundPolicy`` denies. Retrying will not help.
    case denied
    /// The name did not resolve.
    case unresolvable
    /// Refused, reset, unreachable, closed early.
    case couldNotConnect
    /// No connection, or no answer, in time.
    case timedOut
    /// The TLS handshake failed (certificate not trusted, wrong name, protocol error).
    case tlsFailed

    public var description: String {
        switch self {
        case .denied: "the host is a loopback, private, link-local or metadata address (ROTOR_OUTBOUND_ALLOW can allow it)"
        case .unresolvable: "could not resolve the host"
        case .couldNotConnect: "could not connect"
        case .timedOut: "timed out"
        case .tlsFailed: "TLS failed"
        }
    }

    /// The class of a transport error thrown by AsyncHTTPClient or SwiftNIO.
    public static func classify(_ error: any Error) -> OutboundFailure {
        if let failure = error as? OutboundFailure { return failure }
        if let error = error as? HTTPClientError {
            if [.deadlineExceeded, .connectTimeout, .readTimeout, .writeTimeout, .tlsHandshakeTimeout].contains(error) { return .timedOut }
            return .couldNotConnect
        }
        if let error = error as? ChannelError, case .connectTimeout = error { return .timedOut }
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError { return .tlsFailed }
        return .couldNotConnect
    }
}

/// Outbound requests to URLs that API callers chose (targets, `verify_url`s, subscriptions),
/// under an ``OutboundPolicy`` applied when connecting: the host is resolved once, every address
/// is checked, and the connection goes to the first allowed one — the address checked, with no
/// second resolution that a short-TTL DNS answer could change (TLS still verifies the name).
public struct OutboundHTTP: Sendable {
    /// What is allowed.
    public let policy: OutboundPolicy
    let resolver: any HostResolver

    /// What a request got: the status and headers (the body is read, up to 64 KiB, and dropped).
    public struct Answer: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
    }

    public init(policy: OutboundPolicy, resolver: any HostResolver = SystemHostResolver()) {
        self.policy = policy
        self.resolver = resolver
    }

    /// Sends `request`; redirects are not followed. Throws only ``OutboundFailure``.
    public func execute(_ request: HTTPClientRequest, timeout: TimeAmount) async throws(OutboundFailure) -> Answer {
        let deadline = NIODeadline.now() + timeout
        guard let url = URL(string: request.url), let host = url.host, !host.isEmpty else { throw .couldNotConnect }
        let address = try await self.address(for: host)
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        // A refused or unreachable address fails at once, as a transient error the caller retries
        // with backoff, instead of reconnecting until the deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(5)
        if let address {
            // The checked address, for this request only: TLS's name (SNI, certificate) and the
            // Host header stay the URL's.
            configuration.dnsOverride = [host: address.description]
        }
        // One client per request: the override is per client, and these requests are few (a
        // rotation's deliveries, subscription events), so there is no pool worth sharing.
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let result: Result<Answer, OutboundFailure>
        do {
            let response = try await client.execute(request, deadline: deadline)
            // Drained so the connection closes cleanly; the content is not used.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            result = .success(Answer(status: Int(response.status.code), headers: response.headers))
        } catch {
            result = .failure(OutboundFailure.classify(error))
        }
        try? await client.shutdown()
        return try result.get()
    }

    /// The address to connect to: nil when the URL's host is itself an allowed address.
    func address(for host: String) async throws(OutboundFailure) -> IPAddress? {
        if let literal = IPAddress(host) {
            guard self.policy.permits(literal) else { throw .denied }
            return nil
        }
        if self.policy.deniesByName(host) { throw .denied }
        let addresses: [IPAddress]
        do {
            addresses = try await self.resolver.addresses(of: host)
        } catch {
            throw .unresolvable
        }
        guard !addresses.isEmpty else { throw .unresolvable }
        if self.policy.permits(hostName: host) { return addresses[0] }
        guard let allowed = addresses.first(where: self.policy.permits) else { throw .denied }
        return allowed
    }
}
