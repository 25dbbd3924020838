import FakeVultr
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorCore
import RotorHTTP
@testable import RotorProviders
import Synchronization
import Testing

/// The generic engine: `vultr-user` against FakeVultr's sub-user routes, and the parts of the
/// format Vultr does not use (header auth, numbered pages, next links, error pointers) against a
/// small API of its own. The `vultr` definition runs VultrProviderTests.
@Suite(.timeLimit(.minutes(1))) struct DefinedProviderTests {
    static let vultrUser = ProviderDefinitions.builtIn.first { $0.name == "vultr-user" }!

    private func withFake<T: Sendable>(_ body: @Sendable (FakeVultr, String) async throws -> T) async throws -> T {
        let fake = FakeVultr(configuration: FakeVultr.Configuration(rateLimitPerSecond: nil))
        return try await fake.run { baseURL in try await body(fake, baseURL) }
    }

    @Test("vultr-user: a root user's key rotates a sub-user's keys; the sub-user's keys verify by themselves")
    func managedByRoot() async throws {
        try await self.withFake { fake, baseURL in
            let (root, managerKey) = fake.addUser()
            let (user, userKey) = try #require(fake.addSubUser(to: root))
            let provider = try DefinedProvider(definition: Self.vultrUser, baseURL: baseURL, subject: user)
            let manager = Secret(managerKey)

            let created = try await provider.createKey(name: "rotor-job_u", expiresAt: nil, using: manager)
            #expect(fake.keys(ofUser: user).contains { $0.id == created.key.id && $0.secret == created.secret.reveal() })
            #expect(fake.keys(ofUser: root).count == 1)
            try await provider.verify(key: created.secret)

            let listed = try await provider.listKeys(using: manager)
            #expect(Set(listed.map(\.id)) == Set(fake.keys(ofUser: user).map(\.id)))
            let oldID = try #require(fake.keys(ofUser: user).first { $0.secret == userKey }?.id)
            #expect(KeyResolution(of: Secret(userKey), in: listed).foundID == oldID)

            try await provider.deleteKey(id: oldID, using: manager)
            try await provider.deleteKey(id: oldID, using: manager)
            #expect(fake.key(id: oldID) == nil)
            await #expect(throws: ProviderError.self) { try await provider.verify(key: Secret(userKey)) }
        }
    }

    @Test("vultr-user: a sub-user allowed to manage users may; one without the permission gets a permanent 403; another account's user is 404")
    func permissions() async throws {
        try await self.withFake { fake, baseURL in
            let (root, _) = fake.addUser()
            let (user, _) = try #require(fake.addSubUser(to: root))
            let (_, managerKey) = try #require(fake.addSubUser(to: root, managesUsers: true))
            let (_, plainKey) = try #require(fake.addSubUser(to: root))
            let provider = try DefinedProvider(definition: Self.vultrUser, baseURL: baseURL, subject: user)

            _ = try await provider.createKey(name: "by-manager", expiresAt: nil, using: Secret(managerKey))
            #expect(fake.keys(ofUser: user).contains { $0.name == "by-manager" })

            await #expect {
                _ = try await provider.listKeys(using: Secret(plainKey))
            } throws: { error in
                (error as? ProviderError).map { !$0.isTransient && $0.status == 403 } ?? false
            }
            let (_, strangerKey) = fake.addUser()
            await #expect {
                _ = try await provider.createKey(name: "x", expiresAt: nil, using: Secret(strangerKey))
            } throws: { error in
                (error as? ProviderError).map { !$0.isTransient && $0.status == 404 } ?? false
            }
        }
    }

    @Test("a subject only for keys managed through a manager key; without one such a provider refuses to manage keys")
    func subject() async throws {
        let vultr = try #require(ProviderDefinitions.builtIn.first { $0.name == "vultr" })
        #expect(throws: DefinitionError.self) { try DefinedProvider(definition: vultr, baseURL: "http://127.0.0.1:1", subject: "u") }
        #expect(throws: DefinitionError.self) { try DefinedProvider(definition: Self.vultrUser, baseURL: "http://127.0.0.1:1", subject: "") }
        let unscoped = try DefinedProvider(definition: Self.vultrUser, baseURL: "http://127.0.0.1:1")
        #expect(unscoped.isManagedThroughManager)
        #expect(try DefinedProvider(definition: vultr, baseURL: "http://127.0.0.1:1").managing(subject: "u", with: Secret("k")) == nil)
        await #expect {
            _ = try await unscoped.listKeys(using: Secret("MANAGERKEY"))
        } throws: { error in
            (error as? ProviderError)?.isTransient == false && "\(error)".contains("manager credential")
        }
    }

    @Test("managing(subject:with:) lists, creates and deletes the subject's keys with the manager's key, and verifies with the key given")
    func managing() async throws {
        let fake = FakeVultr(configuration: .init(rateLimitPerSecond: nil))
        try await fake.run { baseURL in
            let (root, rootKey) = fake.addUser()
            let (user, userKey) = try #require(fake.addSubUser(to: root, name: "Workload", email: "w@example.com"))
            let unscoped = try DefinedProvider(definition: Self.vultrUser, baseURL: baseURL)
            let managed = try #require(unscoped.managing(subject: user, with: Secret(rootKey)))
            // The engine passes the managed key; the manager's is what manages.
            let created = try await managed.createKey(name: "rotor-job_m", expiresAt: nil, using: Secret(userKey))
            #expect(fake.keys(ofUser: user).contains { $0.id == created.key.id })
            #expect(try await managed.listKeys(using: Secret(userKey)).count == 2)
            try await managed.verify(key: created.secret)
            try await managed.deleteKey(id: created.key.id, using: Secret(userKey))
            #expect(fake.keys(ofUser: user).count == 1)
            #expect(fake.keys(ofUser: root).count == 1)
        }
    }

    // MARK: - A provider of another shape

    @Test("header auth, numbered pages, numeric ids, 410 as gone, and the error pointer without the key")
    func otherShape() async throws {
        let api = TokenAPI()
        try await api.run { baseURL in
            let provider = try DefinedProvider(
                definition: try ProviderDefinitions.load(yaml: ProviderDefinitionsTests.example, file: "example.yaml"),
                baseURL: baseURL + "/"
            )
            let key = Secret(TokenAPI.goodKey)
            try await provider.verify(key: key)
            let wrong = "WRONG-KEY-0123456789"
            await #expect {
                try await provider.verify(key: Secret(wrong))
            } throws: { error in
                guard let error = error as? ProviderError else { return false }
                return error.status == 401 && !error.isTransient && error.message == "no such key: [key]" && !error.description.contains(wrong)
            }

            let created = try await provider.createKey(name: "rotor \"new\"", expiresAt: nil, using: key)
            #expect(created.key.name == "rotor \"new\"")
            #expect(created.key.id == "251")
            #expect(created.key.visibleSuffix == created.secret.suffix(4))

            let listed = try await provider.listKeys(using: key)
            #expect(listed.count == 251)
            #expect(api.pagesServed() == 3)
            #expect(listed.last?.visibleSuffix == created.secret.suffix(4))

            try await provider.deleteKey(id: "3", using: key)
            api.setOmitSecret(true)
            await #expect {
                _ = try await provider.createKey(name: "lost", expiresAt: nil, using: key)
            } throws: { error in
                guard let error = error as? ProviderError else { return false }
                return !error.isTransient && error.message.contains("returned no plaintext key")
            }
            api.setFailure(.serviceUnavailable)
            await #expect {
                _ = try await provider.listKeys(using: key)
            } throws: { error in
                (error as? ProviderError).map { $0.isTransient && $0.status == 503 } ?? false
            }
        }
    }

    @Test("a next link is followed on the base URL and refused anywhere else")
    func nextLinks() async throws {
        let api = TokenAPI()
        try await api.run { baseURL in
            let yaml = ProviderDefinitionsTests.example
                .replacingOccurrences(of: "    pagination:\n      type: page\n      param: page\n      per_page_param: page_size\n      per_page: 100\n",
                                      with: "    pagination:\n      type: next_link\n      next: /next\n")
                .replacingOccurrences(of: "    path: /v1/tokens\n    items:", with: "    path: /v1/linked\n    items:")
            let definition = try ProviderDefinitions.load(yaml: yaml, file: "linked.yaml")
            let provider = try DefinedProvider(definition: definition, baseURL: baseURL)
            #expect(try await provider.listKeys(using: Secret(TokenAPI.goodKey)).count == 250)

            api.setLinkHost("http://evil.example")
            await #expect {
                _ = try await provider.listKeys(using: Secret(TokenAPI.goodKey))
            } throws: { error in
                (error as? ProviderError).map { !$0.isTransient && $0.message.contains("leaves the configured base URL") } ?? false
            }
        }
    }
}

/// A small token API shaped unlike Vultr's (ProviderDefinitionsTests.example): `X-Api-Key: Token
/// <key>`, `{"token": {...}}`, numbered pages of 100, errors as `{"errors": [{"reason"}]}`.
final class TokenAPI: Sendable {
    static let goodKey = "GOODKEY-0123456789-abcdef"

    struct State {
        var tokens: [(id: Int, value: String, label: String)] = (1...250).map { ($0, "VALUE-\($0)-" + String(repeating: "x", count: 10), "bulk-\($0)") }
        var omitSecret = false
        var failure: HTTPResponseStatus?
        var pages = 0
        var linkHost: String?
    }

    let state = Mutex(State())

    func pagesServed() -> Int { self.state.withLock { $0.pages } }
    func setOmitSecret(_ omit: Bool) { self.state.withLock { $0.omitSecret = omit } }
    func setFailure(_ status: HTTPResponseStatus?) { self.state.withLock { $0.failure = status } }
    func setLinkHost(_ host: String?) { self.state.withLock { $0.linkHost = host } }

    private func error(_ status: HTTPResponseStatus, _ reason: String) throws -> Response {
        try .json(["errors": [["reason": reason]]], status: status)
    }

    private func authorized(_ request: Request) throws -> Response? {
        let presented = request.headers.first(name: "X-Api-Key") ?? ""
        guard presented == "Token \(Self.goodKey)" else {
            return try self.error(.unauthorized, "no such key: \(presented.dropFirst("Token ".count))")
        }
        if let failure = self.state.withLock({ $0.failure }) { return try self.error(failure, "try later") }
        return nil
    }

    func run<T: Sendable>(_ body: @Sendable (_ baseURL: String) async throws -> T) async throws -> T {
        let router = Router()
        router.on(.GET, "/v1/profile") { request in
            if let refusal = try self.authorized(request) { return refusal }
            return try .json(["name": "me"])
        }
        router.on(.POST, "/v1/tokens") { request in
            if let refusal = try self.authorized(request) { return refusal }
            let body = try JSONSerialization.jsonObject(with: Data(request.body.readableBytesView)) as? [String: Any]
            let label = body?["label"] as? String ?? ""
            let (id, value, omit) = self.state.withLock { state in
                let id = (state.tokens.last?.id ?? 0) + 1
                let value = "NEW-\(UUID().uuidString)"
                state.tokens.append((id, value, label))
                return (id, value, state.omitSecret)
            }
            let token: [String: Any] = omit ? ["id": id, "label": label] : ["id": id, "value": value, "label": label]
            return Response(status: .created, body: try JSONSerialization.data(withJSONObject: ["token": token]))
        }
        router.on(.GET, "/v1/tokens") { request in
            if let refusal = try self.authorized(request) { return refusal }
            let page = Int(request.query["page"] ?? "") ?? 0
            let size = Int(request.query["page_size"] ?? "") ?? 0
            guard page >= 1, size == 100 else { return try self.error(.badRequest, "bad paging") }
            let items = self.state.withLock { state in
                state.pages += 1
                return state.tokens.dropFirst((page - 1) * size).prefix(size).map { ["id": $0.id, "label": $0.label, "value": "****" + $0.value.suffix(4)] as [String: Any] }
            }
            return Response(body: try JSONSerialization.data(withJSONObject: ["data": items]))
        }
        router.on(.GET, "/v1/linked") { request in
            if let refusal = try self.authorized(request) { return refusal }
            let start = Int(request.query["from"] ?? "") ?? 0
            let (items, host) = self.state.withLock { state in
                (state.tokens.dropFirst(start).prefix(100).map { ["id": "\($0.id)", "value": "****" + $0.value.suffix(4)] }, state.linkHost)
            }
            let next = start + 100 < 250 ? (host ?? "") + "/v1/linked?from=\(start + 100)" : ""
            return Response(body: try JSONSerialization.data(withJSONObject: ["data": items, "next": next] as [String: Any]))
        }
        router.on(.DELETE, "/v1/tokens/{id}") { request in
            if let refusal = try self.authorized(request) { return refusal }
            return try self.error(.gone, "already deleted")
        }
        return try await HTTPServer.withRunningServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0),
            responder: router.buildResponder(),
            logger: Logger(label: "token-api")
        ) { address in
            try await body("http://127.0.0.1:\(address.port ?? 0)")
        }
    }
}
