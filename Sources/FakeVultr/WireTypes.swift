import Foundation

/// The create call's body; every field is optional, unknown fields are ignored.
struct CreateBody: Decodable {
    var name: String?
    var expire: Bool?
    var dateExpire: String?

    init() {}

    enum CodingKeys: String, CodingKey {
        case name
        case expire
        case dateExpire = "date_expire"
    }
}

/// One key on the wire: plaintext from create, masked everywhere else.
struct APIKeyJSON: Encodable {
    var id: String
    var apiKey: String
    var name: String
    var expire: Bool
    var dateExpire: String?
    var dateCreated: String

    init(_ key: StoredKey, plaintext: Bool) {
        self.id = key.id
        self.apiKey = plaintext ? key.secret : key.maskedSecret
        self.name = key.name
        self.expire = key.expire
        self.dateExpire = key.dateExpire.map(Timestamp.format)
        self.dateCreated = Timestamp.format(key.dateCreated)
    }

    enum CodingKeys: String, CodingKey {
        case id
        case apiKey = "api_key"
        case name
        case expire
        case dateExpire = "date_expire"
        case dateCreated = "date_created"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.id, forKey: .id)
        try container.encode(self.apiKey, forKey: .apiKey)
        try container.encode(self.name, forKey: .name)
        try container.encode(self.expire, forKey: .expire)
        // An explicit null for keys that never expire, so clients must tolerate it.
        try container.encode(self.dateExpire, forKey: .dateExpire)
        try container.encode(self.dateCreated, forKey: .dateCreated)
    }
}

/// `{"api_key": {...}}`.
struct KeyEnvelope: Encodable {
    var apiKey: APIKeyJSON

    enum CodingKeys: String, CodingKey {
        case apiKey = "api_key"
    }
}

/// `{"api_keys": [...], "meta": {"total", "links": {"next", "prev"}}}`.
struct ListJSON: Encodable {
    struct Links: Encodable {
        var next: String
        var prev: String
    }

    struct Meta: Encodable {
        var total: Int
        var links: Links
    }

    var apiKeys: [APIKeyJSON]
    var meta: Meta

    enum CodingKeys: String, CodingKey {
        case apiKeys = "api_keys"
        case meta
    }
}

/// `{"account": {...}}`.
struct AccountEnvelope: Encodable {
    var account: AccountJSON
}

/// The account call's answer; only its 200 matters to Rotor, the rest is plausible filler.
struct AccountJSON: Encodable {
    var name: String
    var email: String
    var acls = [
        "manage_users", "subscriptions", "billing", "support", "provisioning", "dns", "abuse", "upgrade", "firewall", "alerts", "objstore",
        "loadbalancer",
    ]
    var balance = -10.5
    var pendingCharges = 0.0
    var lastPaymentDate = "2024-01-01T00:00:00+00:00"
    var lastPaymentAmount = -1.0

    enum CodingKeys: String, CodingKey {
        case name, email, acls, balance
        case pendingCharges = "pending_charges"
        case lastPaymentDate = "last_payment_date"
        case lastPaymentAmount = "last_payment_amount"
    }
}

/// RFC 3339 timestamps in UTC, whole seconds, as the API writes them.
enum Timestamp {
    static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }

    /// Accepts RFC 3339 with or without fractional seconds, any offset.
    static func parse(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
    }
}
