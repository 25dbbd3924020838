/// The definitions Rotor ships, as YAML in the same format operators write (docs/providers.md).
enum BuiltInDefinitions {
    /// `(file, yaml)` pairs; the file name is what errors would name.
    static let sources: [(file: String, yaml: String)] = [
        ("vultr.yaml", Self.vultr),
        ("vultr-user.yaml", Self.vultrUser),
    ]

    /// A Vultr key managing its own user's keys (vultr-api.md), like ``VultrProvider``.
    /// The body sends `expire: true` with `date_expire` when the key expires, and neither when it
    /// does not, as vultr-api.md documents the create.
    static let vultr = """
        name: vultr
        display_name: Vultr
        base_url: https://api.vultr.com
        auth:
          type: bearer
        management: self
        operations:
          verify:
            method: GET
            path: /v2/account
          create:
            method: POST
            path: /v2/apikeys
            body:
              name: "{{name}}"
              expire: "{{expires}}"
              date_expire: "{{expires_at}}"
            id: /api_key/id
            secret: /api_key/api_key
            name: /api_key/name
            expires_at: /api_key/date_expire
            created_at: /api_key/date_created
          list:
            method: GET
            path: /v2/apikeys?per_page=500
            items: /api_keys
            id: /id
            name: /name
            masked: /api_key
            created_at: /date_created
            expires_at: /date_expire
            pagination:
              type: cursor
              param: cursor
              next: /meta/links/next
          delete:
            method: DELETE
            path: /v2/apikeys/{{key_id}}
        """

    /// A Vultr sub-user's keys, managed through a manager key (a root user's, or one with the
    /// "manage users" permission): same body and key objects under `/v2/users/{id}/apikeys`.
    /// `verify` checks a key by itself, as for `vultr`.
    static let vultrUser = """
        name: vultr-user
        display_name: Vultr (sub-user keys, through a manager key)
        base_url: https://api.vultr.com
        auth:
          type: bearer
        management: manager
        operations:
          verify:
            method: GET
            path: /v2/account
          create:
            method: POST
            path: /v2/users/{{subject}}/apikeys
            body:
              name: "{{name}}"
              expire: "{{expires}}"
              date_expire: "{{expires_at}}"
            id: /api_key/id
            secret: /api_key/api_key
            name: /api_key/name
            expires_at: /api_key/date_expire
            created_at: /api_key/date_created
          list:
            method: GET
            path: /v2/users/{{subject}}/apikeys?per_page=500
            items: /api_keys
            id: /id
            name: /name
            masked: /api_key
            created_at: /date_created
            expires_at: /date_expire
            pagination:
              type: cursor
              param: cursor
              next: /meta/links/next
          delete:
            method: DELETE
            path: /v2/users/{{subject}}/apikeys/{{key_id}}
        """
}
