import FakeProviders
import Foundation
import NIOHTTP1
import RotorCore
import RotorProviders
import Testing

/// The definitions shipped in `providers/` (Linode, SendGrid, Scaleway), each loaded from its
/// file with `base_url` aimed at a fake written from that provider's public documentation, run
/// through the generic engine: the same scenarios for all three.
@Suite(.timeLimit(.minutes(1))) struct ShippedDefinitionTests {
    /// One shipped definition and what its provider does differently.
    struct Shipped: Sendable, CustomTestStringConvertible {
        var shape: KeyAPIShape
        /// The account the file names (Scaleway's application id), if any.
        var account: String?
        /// Keys to add for the pagination scenario, and the list calls the walk then makes.
        var extraKeys: Int
        var listCalls: Int
        /// Whether a 429 says when to retry in `Retry-After` (SendGrid uses `X-RateLimit-Reset`).
        var sendsRetryAfter: Bool

        var testDescription: String { self.shape.name }
    }

    static let shipped: [Shipped] = [
        // 500 per page: 521 keys are two pages.
        Shipped(shape: .linode, account: nil, extraKeys: 520, listCalls: 2, sendsRetryAfter: true),
        // One answer of at most 100: an account holds at most 100 keys.
        Shipped(shape: .sendgrid, account: nil, extraKeys: 99, listCalls: 1, sendsRetryAfter: false),
        // 100 per page: 251 keys are three pages.
        Shipped(shape: .scaleway, account: "00000000-0000-4000-8000-000000000000", extraKeys: 250, listCalls: 3, sendsRetryAfter: true),
    ]

    /// A fake of `shipped`'s provider with one account, and the shipped definition aimed at it.
    private func with(
        _ shipped: Shipped, _ body: @Sendable (FakeKeyAPI, DefinedProvider, (accountID: String, keyID: String, secret: String)) async throws -> Void
    ) async throws {
        let fake = FakeKeyAPI(shipped.shape, rateLimited: false)
        try await fake.run { baseURL in
            let definition = try ProviderDefinitions.load(yaml: try shipped.shape.shippedDefinition(baseURL: baseURL), file: "\(shipped.shape.name).yaml")
            #expect(definition.name == shipped.shape.name)
            let provider = try DefinedProvider(definition: definition, baseURL: definition.baseURL)
            try await body(fake, provider, fake.addAccount(id: shipped.account))
        }
    }

    @Test("verify: the key authenticates; an unknown key is a permanent 401 in the provider's words", arguments: Self.shipped)
    func verify(_ shipped: Shipped) async throws {
        try await self.with(shipped) { fake, provider, account in
            try await provider.verify(key: Secret(account.secret))
            let error = try await #require(throws: ProviderError.self) { try await provider.verify(key: Secret(shipped.shape.newSecret())) }
            #expect(error.kind == .permanent)
            #expect(error.status == 401)
            #expect(error.message == shipped.shape.unauthorized)
            #expect(fake.requestCounts(.verify) == .init(received: 2, succeeded: 1))
        }
    }

    @Test("create, then the list shows the new key by id (never by a secret), then delete; deleting again counts as gone", arguments: Self.shipped)
    func lifecycle(_ shipped: Shipped) async throws {
        try await self.with(shipped) { fake, provider, account in
            let current = Secret(account.secret)
            let created = try await provider.createKey(name: "rotor-job_1", expiresAt: Date().addingTimeInterval(86_400), using: current)
            let stored = try #require(fake.keys(ofAccount: account.accountID).first { $0.id == created.key.id })
            #expect(stored.secret == created.secret.reveal())
            #expect(stored.name == "rotor-job_1")
            // Linode and Scaleway take the expiry; SendGrid keys do not expire.
            #expect((stored.expiresAt != nil) == (shipped.shape.expiryField != nil))
            try await provider.verify(key: created.secret)

            let listed = try await provider.listKeys(using: current)
            #expect(Set(listed.map(\.id)) == [account.keyID, created.key.id])
            #expect(listed.first { $0.id == created.key.id }?.name == "rotor-job_1")
            // None of the three lists a key's tail: a secret is found by the id given at registration.
            #expect(KeyResolution(of: created.secret, in: listed) == .notFound)

            try await provider.deleteKey(id: created.key.id, using: current)
            #expect(fake.keys(ofAccount: account.accountID).map(\.id) == [account.keyID])
            try await provider.deleteKey(id: created.key.id, using: current)
            #expect(fake.requestCounts(.delete) == .init(received: 2, succeeded: 1))
            let gone = try await #require(throws: ProviderError.self) { try await provider.verify(key: created.secret) }
            #expect(gone.status == 401)
        }
    }

    @Test("a 429 is transient, with Retry-After where the provider sends it", arguments: Self.shipped)
    func rateLimited(_ shipped: Shipped) async throws {
        try await self.with(shipped) { fake, provider, account in
            fake.rateLimitNext(1, retryAfter: 7, on: .create)
            let error = try await #require(throws: ProviderError.self) {
                _ = try await provider.createKey(name: "rotor-job_2", expiresAt: nil, using: Secret(account.secret))
            }
            #expect(error.status == 429)
            #expect(error.message == shipped.shape.tooManyRequests)
            #expect(error.kind == .transient(retryAfter: shipped.sendsRetryAfter ? .seconds(7) : nil))
            #expect(fake.keys(ofAccount: account.accountID).count == 1)
        }
    }

    @Test("a 5xx is transient and takes no effect", arguments: Self.shipped)
    func serverError(_ shipped: Shipped) async throws {
        try await self.with(shipped) { fake, provider, account in
            fake.failNext(1, status: .badGateway, on: .delete)
            let error = try await #require(throws: ProviderError.self) { try await provider.deleteKey(id: account.keyID, using: Secret(account.secret)) }
            #expect(error.status == 502)
            #expect(error.isTransient)
            #expect(fake.keys(ofAccount: account.accountID).count == 1)
        }
    }

    @Test("the list walks every page as the provider pages it", arguments: Self.shipped)
    func pagination(_ shipped: Shipped) async throws {
        try await self.with(shipped) { fake, provider, account in
            for index in 0..<shipped.extraKeys { fake.addKey(toAccount: account.accountID, name: "extra-\(index)") }
            let listed = try await provider.listKeys(using: Secret(account.secret))
            #expect(listed.count == shipped.extraKeys + 1)
            #expect(Set(listed.map(\.id)) == Set(fake.keys(ofAccount: account.accountID).map(\.id)))
            #expect(fake.requestCounts(.list).received == shipped.listCalls)
        }
    }

    @Test("the fake's own rate limit answers 429 in the provider's shape, and the provider treats it as transient")
    func fakeRateLimit() async throws {
        let fake = FakeKeyAPI(.linode)
        try await fake.run { baseURL in
            let definition = try ProviderDefinitions.load(yaml: try KeyAPIShape.linode.shippedDefinition(baseURL: baseURL), file: "linode.yaml")
            let provider = try DefinedProvider(definition: definition, baseURL: definition.baseURL)
            let secret = Secret(fake.addAccount().secret)
            // Linode's limit is per minute: the calls below all fall in one window.
            var accepted = 0
            var refusal: ProviderError?
            while refusal == nil, accepted <= KeyAPIShape.linode.rateLimit.requests {
                do throws(ProviderError) {
                    try await provider.verify(key: secret)
                    accepted += 1
                } catch {
                    refusal = error
                }
            }
            #expect(accepted == KeyAPIShape.linode.rateLimit.requests)
            #expect(refusal?.status == 429)
            #expect(refusal?.isTransient == true)
        }
    }
}

/// `masked` is optional: providers that list no part of a key.
@Suite struct UnmaskedListTests {
    static let yaml = """
        name: unmasked
        display_name: Unmasked
        base_url: https://api.example.test
        auth:
          type: bearer
        management: self
        operations:
          verify: {method: GET, path: /me}
          create: {method: POST, path: /keys, id: /id, secret: /key}
          list: {method: GET, path: /keys, items: /keys, id: /id}
          delete: {method: DELETE, path: "/keys/{{key_id}}"}
        """

    @Test("a list without masked loads")
    func loads() throws {
        let definition = try ProviderDefinitions.load(yaml: Self.yaml, file: "unmasked.yaml")
        #expect(definition.operations.list.masked == nil)
    }

    @Test("suffix_length without masked is refused")
    func suffixLengthNeedsMasked() {
        let yaml = Self.yaml.replacingOccurrences(of: "id: /id}\n  delete", with: "id: /id, suffix_length: 4}\n  delete")
        let error = #expect(throws: DefinitionError.self) { try ProviderDefinitions.load(yaml: yaml, file: "unmasked.yaml") }
        #expect(error?.description.contains("operations.list.suffix_length: needs masked") == true)
    }
}
