/// Vultr's JSON, as vultr-api.md describes it. Fields Vultr may omit are optional.
extension VultrProvider {
    struct CreateRequest: Encodable {
        var name: String
        var expire: Bool
        var dateExpire: String?

        enum CodingKeys: String, CodingKey {
            case name, expire
            case dateExpire = "date_expire"
        }
    }

    struct WireKey: Decodable {
        var id: String
        var apiKey: String?
        var name: String?
        var dateExpire: String?
        var dateCreated: String?

        enum CodingKeys: String, CodingKey {
            case id, name
            case apiKey = "api_key"
            case dateExpire = "date_expire"
            case dateCreated = "date_created"
        }
    }

    struct CreateResponse: Decodable {
        var apiKey: WireKey
        enum CodingKeys: String, CodingKey { case apiKey = "api_key" }
    }

    struct ListResponse: Decodable {
        struct Meta: Decodable {
            struct Links: Decodable { var next: String? }
            var links: Links?
        }

        var apiKeys: [WireKey]
        var meta: Meta?

        enum CodingKeys: String, CodingKey {
            case apiKeys = "api_keys"
            case meta
        }
    }

    struct ErrorResponse: Decodable {
        var error: String
    }
}
