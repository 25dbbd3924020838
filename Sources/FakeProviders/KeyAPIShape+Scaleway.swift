import Foundation
import NIOHTTP1

extension KeyAPIShape {
    /// Scaleway IAM API keys (`/iam/v1alpha1/api-keys`), as Scaleway's IAM API reference
    /// documents them: the secret key in `X-Auth-Token`; the create names its bearer
    /// (`application_id`) and answers `access_key` (the id) and `secret_key`, which lists show as
    /// null; `page`/`page_size` (at most 100) with `api_keys` and `total_count`; errors
    /// `{"message", "type"}`; filtering by `bearer_id`. Here a key may manage its own
    /// application's keys only (403 for another bearer), as a key with IAMManager on itself.
    public static let scaleway = KeyAPIShape(
        name: "scaleway",
        authHeader: "X-Auth-Token",
        authPrefix: "",
        verifyPath: "/iam/v1alpha1/applications/{account}",
        keysPath: "/iam/v1alpha1/api-keys",
        createStatus: .ok,
        deleteStatus: .noContent,
        nameField: "description",
        expiryField: "expires_at",
        bearerField: "application_id",
        bearerFilter: "bearer_id",
        pagination: .pages(param: "page", sizeParam: "page_size", defaultSize: 20, maxSize: 100),
        // Assumed: Scaleway documents 429 but no figure for IAM.
        rateLimit: (100, .seconds(1)),
        verifyJSON: { account in ["id": account, "name": "workload", "description": "", "organization_id": "org", "editable": true, "nb_api_keys": 1] as [String: Any] },
        keyJSON: { key, plaintext in
            [
                "access_key": key.id,
                "secret_key": plaintext ? key.secret : NSNull(),
                "application_id": key.accountID,
                "description": key.name,
                "created_at": KeyAPIShape.rfc3339(key.createdAt),
                "updated_at": KeyAPIShape.rfc3339(key.createdAt),
                "expires_at": key.expiresAt.map { KeyAPIShape.rfc3339($0) } ?? NSNull(),
                "default_project_id": key.accountID,
                "editable": true,
                "deletable": true,
                "managed": false,
                "creation_ip": "192.0.2.10",
            ] as [String: Any]
        },
        listJSON: { items, _, _, total in ["api_keys": items, "total_count": total] as [String: Any] },
        errorJSON: { status, message in
            let type: String =
                switch status {
                case .unauthorized: "denied_authentication"
                case .forbidden: "permissions_denied"
                case .notFound: "not_found"
                case .badRequest: "invalid_arguments"
                case .tooManyRequests: "too_many_requests"
                default: "internal_error"
                }
            return ["message": message, "type": type]
        },
        rateLimitHeaders: { KeyAPIShape.retryAfterHeader($0) },
        unauthorized: "authentication is denied",
        notFound: "resource is not found",
        tooManyRequests: "too many requests",
        newID: { _ in "SCW" + Random.string(17, from: Random.upperAlphanumeric) },
        newSecret: { UUID().uuidString.lowercased() }
    )
}
