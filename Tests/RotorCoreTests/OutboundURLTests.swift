import RotorCore
import Testing

@Suite struct OutboundURLTests {
    @Test("https anywhere, http only to loopback", arguments: [
        ("https://hooks.example.com/rotor", true), ("https://10.0.0.1:8443/x", true), ("http://localhost:9000/hook", true),
        ("http://127.0.0.1/hook", true), ("http://127.9.8.7:1/x", true), ("http://[::1]:8080/x", true),
        ("http://example.com/hook", false), ("http://10.0.0.1/x", false), ("http://128.0.0.1/x", false), ("http://127.0.0.1.example.com/x", false),
        ("ftp://example.com/x", false), ("https://user:pass@example.com/x", false), ("not a url", false), ("/relative", false), ("https://", false),
        ("https://example.com/a{b}", false), ("https://example.com/a|b", false), ("https://exämple.com/x", false), ("https://example.com/%7Bok%7D?q=1&r=2", true),
    ])
    func rule(url: String, acceptable: Bool) {
        #expect((OutboundURL.problem(with: url) == nil) == acceptable, "\(url)")
    }
}
