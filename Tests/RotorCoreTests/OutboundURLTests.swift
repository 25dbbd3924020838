import RotorCore
import Testing

@Suite struct OutboundURLTests {
    @Test("https anywhere, http only to loopback, ports 1–65535", arguments: [
        ("https://hooks.example.com/rotor", true), ("https://10.0.0.1:8443/x", true), ("http://localhost:9000/hook", true),
        ("http://127.0.0.1/hook", true), ("http://127.9.8.7:1/x", true), ("http://[::1]:8080/x", true),
        ("http://example.com/hook", false), ("http://10.0.0.1/x", false), ("http://128.0.0.1/x", false), ("http://127.0.0.1.example.com/x", false),
        ("ftp://example.com/x", false), ("https://user:pass@example.com/x", false), ("not a url", false), ("/relative", false), ("https://", false),
        ("https://example.com/a{b}", false), ("https://example.com/a|b", false), ("https://exämple.com/x", false), ("https://example.com/%7Bok%7D?q=1&r=2", true),
        ("https://example.com:99999/x", false), ("https://example.com:0/x", false), ("https://example.com:65535/x", true),
    ])
    func rule(url: String, acceptable: Bool) {
        #expect((OutboundURL.problem(with: url) == nil) == acceptable, "\(url)")
    }

    @Test("with the default policy, internal addresses and metadata names are refused as written", arguments: [
        ("https://hooks.example.com/rotor", true), ("https://93.184.216.34/x", true), ("https://[2606:4700::1]/x", true),
        ("https://169.254.169.254/latest/meta-data/", false), ("https://10.0.0.1/x", false), ("https://172.16.5.4/x", false),
        ("https://192.168.1.1/x", false), ("https://100.100.100.200/x", false), ("https://0.0.0.0/x", false),
        ("https://[fe80::1]/x", false), ("https://[fd00:ec2::254]/x", false), ("https://[::ffff:10.0.0.1]/x", false),
        ("https://metadata.google.internal/computeMetadata/v1/", false), ("http://127.0.0.1:22/x", false), ("http://[::1]:5432/x", false),
        ("http://localhost:8080/x", false), ("https://LocalHost./x", false), ("https://metadata.google.internal./x", false),
    ])
    func defaultPolicy(url: String, acceptable: Bool) {
        #expect((OutboundURL.problem(with: url, policy: OutboundPolicy()) == nil) == acceptable, "\(url)")
    }

    @Test("ROTOR_OUTBOUND_ALLOW lets the operator's ranges and names through")
    func allowed() throws {
        let policy = try OutboundPolicy(parsing: "10.20.0.0/16, ::1 hooks.internal")
        #expect(OutboundURL.problem(with: "https://10.20.3.4/x", policy: policy) == nil)
        #expect(OutboundURL.problem(with: "https://10.21.3.4/x", policy: policy) == OutboundURL.denied)
        #expect(OutboundURL.problem(with: "http://[::1]:9000/x", policy: policy) == nil)
        #expect(OutboundURL.problem(with: "http://127.0.0.1:9000/x", policy: policy) == OutboundURL.denied)
        #expect(policy.permits(hostName: "HOOKS.internal"))
        #expect(OutboundURL.problem(with: "http://localhost:9000/x", policy: policy) == nil, "localhost is allowed with ::1")
    }
}

@Suite struct OutboundPolicyTests {
    @Test("the default denies every internal, reserved and metadata range, including IPv4 inside IPv6", arguments: [
        "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.100.100.200", "127.0.0.1", "127.255.0.9", "169.254.169.254",
        "172.16.0.1", "172.31.255.255", "192.0.0.192", "192.168.0.1", "198.18.0.1", "224.0.0.1", "239.1.1.1", "240.0.0.1", "255.255.255.255",
        "::", "::1", "fe80::1", "febf::1", "fc00::1", "fd00:ec2::254", "fec0::1", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1", "64:ff9b::a00:1", "2002:a00:1::", "2002:7f00:1::1",
    ])
    func denied(address: String) throws {
        let parsed = try #require(IPAddress(address), "\(address) did not parse")
        #expect(!OutboundPolicy().permits(parsed), "\(address)")
    }

    @Test("public addresses pass", arguments: [
        "1.1.1.1", "8.8.8.8", "93.184.216.34", "100.63.255.255", "100.128.0.1", "172.15.255.255", "172.32.0.1", "169.253.255.255",
        "192.167.1.1", "223.255.255.255", "2606:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::",
    ])
    func permitted(address: String) throws {
        let parsed = try #require(IPAddress(address), "\(address) did not parse")
        #expect(OutboundPolicy().permits(parsed), "\(address)")
    }

    @Test("ROTOR_OUTBOUND_ALLOW parses CIDRs, addresses and names, and names a bad entry")
    func parsing() throws {
        let policy = try OutboundPolicy(parsing: "10.1.0.0/16,fd12::/16  192.168.7.7,hooks.corp.example")
        #expect(policy.permits(IPAddress("10.1.200.3")!))
        #expect(!policy.permits(IPAddress("10.2.0.1")!))
        #expect(policy.permits(IPAddress("fd12:3::4")!))
        #expect(policy.permits(IPAddress("192.168.7.7")!))
        #expect(!policy.permits(IPAddress("192.168.7.8")!))
        #expect(policy.permits(IPAddress("::ffff:10.1.0.9")!), "a mapped address is judged by its IPv4 address")
        #expect(policy.allowedHosts == ["hooks.corp.example"])
        for bad in ["10.0.0.0/33", "10.0.0.0/", "::1/129", "-bad-.example", "a_b.example", "10.0.0.0/8x", "fe80::1%eth0"] {
            #expect(throws: OutboundPolicyError.self, "\(bad)") { try OutboundPolicy(parsing: bad) }
        }
        #expect(try OutboundPolicy(parsing: "") == OutboundPolicy())
    }

    @Test("addresses print as they parse")
    func description() {
        #expect(IPAddress("10.0.0.1")?.description == "10.0.0.1")
        #expect(IPAddress("[::1]")?.description == "::1")
        #expect(IPAddress("FD00:EC2::254")?.description == "fd00:ec2::254")
        #expect(IPAddress("metadata.google.internal") == nil)
        #expect(IPNetwork("10.0.0.0/8")?.description == "10.0.0.0/8")
    }
}
