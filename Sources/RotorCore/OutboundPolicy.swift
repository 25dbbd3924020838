public import Foundation

/// An IPv4 or IPv6 address, as its network-order bytes.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    /// Parses a literal (`10.0.0.1`, `::1`, `[fe80::1]`); nil for anything else, names included.
    public init?(_ text: String) {
        var text = Substring(text)
        if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        // A zone (`fe80::1%eth0`) names an interface, never a remote host.
        guard !text.contains("%") else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, String(text), &v4) == 1 {
            self.bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, String(text), &v6) == 1 {
            self.bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    /// An address from its 4 or 16 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Whether it is IPv4.
    public var isV4: Bool { self.bytes.count == 4 }

    /// The IPv4 address an IPv6 address carries and is routed by: IPv4-mapped (`::ffff:a.b.c.d`),
    /// IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::`).
    var embeddedV4: IPAddress? {
        guard self.bytes.count == 16 else { return nil }
        let b = self.bytes
        if b[0..<10].allSatisfy({ $0 == 0 }), (b[10] == 0xff && b[11] == 0xff) || (b[10] == 0 && b[11] == 0) {
            // `::` and `::1` are themselves, not 0.0.0.0 and 0.0.0.1.
            if b[10] == 0, b[12..<15].allSatisfy({ $0 == 0 }), b[15] <= 1 { return nil }
            return IPAddress(bytes: Array(b[12..<16]))
        }
        if b[0..<12] == [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0] { return IPAddress(bytes: Array(b[12..<16])) }
        if b[0] == 0x20, b[1] == 0x02 { return IPAddress(bytes: Array(b[2..<6])) }
        return nil
    }

    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        self.bytes.withUnsafeBytes { raw in
            _ = inet_ntop(self.isV4 ? AF_INET : AF_INET6, raw.baseAddress, &text, socklen_t(text.count))
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// An address range: `10.0.0.0/8`, `fc00::/7`, or one address (`/32`, `/128` implied).
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    /// The first address.
    public let address: IPAddress
    /// How many leading bits are fixed.
    public let prefixLength: Int

    /// Parses `address` or `address/prefix`; nil when either part is not valid.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else { return nil }
        let maximum = address.bytes.count * 8
        let length: Int
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), (0...maximum).contains(parsed), parts[1].allSatisfy(\.isASCII) else { return nil }
            length = parsed
        } else {
            length = maximum
        }
        self.init(address: address, prefixLength: length)
    }

    init(address: IPAddress, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Whether `address` is in the range (an IPv4 range never contains an IPv6 address).
    public func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == self.address.bytes.count else { return false }
        var remaining = self.prefixLength
        for (a, b) in zip(address.bytes, self.address.bytes) where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xff << (8 - bits))
            if a & mask != b & mask { return false }
            remaining -= bits
        }
        return true
    }

    public var description: String { "\(self.address)/\(self.prefixLength)" }
}

/// Which addresses Rotor's outbound requests (targets, `verify_url`s, subscriptions) may reach
/// (docs/security.md, Outbound requests).
///
/// By default every public address, and none of the ranges a request forged from outside could use
/// to reach inside: loopback, private (RFC 1918), shared (RFC 6598, where some clouds keep their
/// metadata service), link-local (169.254.169.254 is the metadata service of AWS, GCP and Azure),
/// IPv6 unique-local and link-local, multicast, unspecified and reserved. An IPv6 address that
/// carries an IPv4 one (mapped, NAT64, 6to4) is judged by the IPv4 address.
/// `ROTOR_OUTBOUND_ALLOW` adds ranges or host names the operator trusts. The check is made on the
/// address a name resolves to, and the connection goes to that very address.
public struct OutboundPolicy: Sendable, Hashable {
    /// Ranges the operator allows in spite of the defaults.
    public var allowedNetworks: [IPNetwork]
    /// Host names (lower-case) the operator allows whatever they resolve to.
    public var allowedHosts: Set<String>

    /// The defaults: public addresses only.
    public init(allowedNetworks: [IPNetwork] = [], allowedHosts: Set<String> = []) {
        self.allowedNetworks = allowedNetworks
        self.allowedHosts = allowedHosts
    }

    /// The defaults plus loopback (127.0.0.0/8 and ::1), as `serve --sandbox` and `demo` run, whose
    /// targets are on this machine.
    public static let loopbackAllowed = OutboundPolicy(allowedNetworks: [IPNetwork("127.0.0.0/8")!, IPNetwork("::1")!])

    /// Parses `ROTOR_OUTBOUND_ALLOW`: CIDRs, addresses and host names, separated by commas or
    /// spaces. Throws a message naming the first entry that is none of these.
    public init(parsing text: String) throws(OutboundPolicyError) {
        self.init()
        for entry in text.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init) {
            if let network = IPNetwork(entry) {
                self.allowedNetworks.append(network)
            } else if Self.isHostName(entry) {
                self.allowedHosts.insert(entry.lowercased())
            } else {
                throw OutboundPolicyError(entry: entry)
            }
        }
    }

    /// Whether a connection to `address` is allowed.
    public func permits(_ address: IPAddress) -> Bool {
        if self.allowedNetworks.contains(where: { $0.contains(address) }) { return true }
        if let embedded = address.embeddedV4 { return self.permits(embedded) }
        return !Self.deniedByDefault.contains { $0.contains(address) }
    }

    /// Whether `host` is allowed by name, whatever it resolves to.
    public func permits(hostName host: String) -> Bool {
        self.allowedHosts.contains(Self.normalized(host))
    }

    /// Names that answer only inside a cloud or this machine, and so are never a public endpoint:
    /// denied before resolving (unless allowed by name or, for `localhost`, by its address).
    public func deniesByName(_ host: String) -> Bool {
        let host = Self.normalized(host)
        if self.permits(hostName: host) { return false }
        if host == "localhost" || host.hasSuffix(".localhost") {
            return !self.permits(IPAddress("127.0.0.1")!) && !self.permits(IPAddress("::1")!)
        }
        return ["metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"].contains(host)
    }

    static let deniedByDefault: [IPNetwork] = [
        "0.0.0.0/8",  // "this network", unspecified
        "10.0.0.0/8",  // private
        "100.64.0.0/10",  // shared address space (CGNAT; Alibaba Cloud's metadata at 100.100.100.200)
        "127.0.0.0/8",  // loopback
        "169.254.0.0/16",  // link-local: cloud metadata services
        "172.16.0.0/12",  // private
        "192.0.0.0/24",  // IETF protocol assignments
        "192.168.0.0/16",  // private
        "198.18.0.0/15",  // benchmarking
        "224.0.0.0/4",  // multicast
        "240.0.0.0/4",  // reserved, broadcast
        "::/128",  // unspecified
        "::1/128",  // loopback
        "fc00::/7",  // unique-local (AWS's IPv6 metadata at fd00:ec2::254)
        "fe80::/10",  // link-local
        "fec0::/10",  // site-local (deprecated)
        "ff00::/8",  // multicast
    ].map { IPNetwork($0)! }

    /// Lower-case, without the root's trailing dot (`LocalHost.` is `localhost`).
    static func normalized(_ host: String) -> String {
        let host = host.lowercased()
        return host.hasSuffix(".") ? String(host.dropLast()) : host
    }

    static func isHostName(_ text: String) -> Bool {
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        return !text.isEmpty && text.utf8.count <= 253
            && labels.allSatisfy { label in
                !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                    && label.utf8.allSatisfy { $0 == UInt8(ascii: "-") || (0x30...0x39).contains($0) || (0x61...0x7a).contains($0 | 0x20) }
            }
    }
}

/// An entry of `ROTOR_OUTBOUND_ALLOW` that is neither a range, an address nor a host name.
public struct OutboundPolicyError: Error, CustomStringConvertible {
    /// The entry.
    public let entry: String

    public var description: String {
        "'\(self.entry)' is not a CIDR (10.1.0.0/16), an address (fd00::5) or a host name (hooks.internal)"
    }
}
