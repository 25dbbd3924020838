import RotorCore
import RotorHTTP

/// A provider definition as `GET /v1/providers` lists it: what a credential's `provider` may
/// name, and how its keys are managed. The definition's operations stay on the server.
public struct ProviderSummary: Sendable, Hashable, Encodable {
    /// The name credentials give as `provider`.
    public var name: String
    /// For people.
    public var displayName: String
    /// `self` (a key manages its own keys) or `manager` (another credential's key manages them).
    public var management: String
    /// Where its API is (configuration, never a request).
    public var baseURL: String
    /// `builtin` or the definition file's name.
    public var source: String
    /// Whether credentials may name it on this server.
    public var available: Bool

    /// Creates a summary.
    public init(name: String, displayName: String, management: String, baseURL: String, source: String, available: Bool) {
        (self.name, self.displayName, self.management, self.baseURL, self.source, self.available) =
            (name, displayName, management, baseURL, source, available)
    }

    enum CodingKeys: String, CodingKey {
        case name, management, source, available
        case displayName = "display_name"
        case baseURL = "base_url"
    }
}

/// `GET /v1/providers`: the provider definitions this server loaded (docs/providers.md).
enum ProviderRoutes {
    private struct ListBody: Encodable {
        var data: [ProviderSummary]
    }

    static func register(on v1: ScopedRoutes, catalog: [ProviderSummary]) {
        v1.get("/providers") { _ in
            try Response.json(ListBody(data: catalog))
        }
    }
}
