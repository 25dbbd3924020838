import AsyncHTTPClient
import FakeVultr
import Foundation
import NIOHTTP1
import RotorCore
@testable import RotorProviders
import Testing

/// The two ways Rotor talks to Vultr: the native adapter, and the built-in `vultr` definition run
/// by the generic engine. Every scenario below runs on both.
enum VultrAdapter: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case native
    case defined

    var testDescription: String { self.rawValue }

    func make(baseURL: String, requestTimeout: Duration = .seconds(30)) throws -> any Provider {
        switch self {
        case .native:
            VultrProvider(baseURL: baseURL, requestTimeout: requestTimeout)
        case .defined:
            try DefinedProvider(definition: try #require(ProviderDefinitions.builtIn.first { $0.name == "vultr" }), baseURL: baseURL, requestTimeout: requestTimeout)
        }
    }
}

/// The Vultr adapters against the fake Vultr API over real sockets.
@Suite(.timeLimit(.minutes(1))) struct VultrProviderTests {
    private func withFake<T: Sendable>(
        _ adapter: VultrAdapter,
        _ configuration: FakeVultr.Configuration = FakeVultr.Configuration(rateLimitPerSecond: nil),
        _ body: @Sendable (FakeVultr, any Provider) async throws -> T
    ) async throws -> T {
        let fake = FakeVultr(configuration: configuration)
        return try await fake.run { baseURL in
            try await body(fake, try adapter.make(baseURL: baseURL))
        }
    }

    @Test("dates: Vultr's Z, offset and fractional forms parse to the same instant; ours format as RFC 3339 UTC", arguments: [
        "2030-01-02T03:04:05Z", "2030-01-02T03:04:05+00:00", "2030-01-02T03:04:05.000Z", "2030-01-02T05:04:05+02:00",
    ])
    func dates(_ text: String) throws {
        let expected = Date(timeIntervalSince1970: 1_893_553_445)  // 2030-01-02T03:04:05Z
        #expect(ProviderHTTP.parseDate(text) == expected)
        #expect(ProviderHTTP.formatDate(expected) == "2030-01-02T03:04:05Z")
    }

    @Test("an unparseable date is dropped, not guessed")
    func badDate() {
        #expect(ProviderHTTP.parseDate("next tuesday") == nil)
        #expect(ProviderHTTP.parseDate("") == nil)
    }

    @Test("verify accepts a live key and rejects a wrong one as permanent", arguments: VultrAdapter.allCases)
    func verify(_ adapter: VultrAdapter) async throws {
        try await self.withFake(adapter) { fake, provider in
            let (_, key) = fake.addUser()
            try await provider.verify(key: Secret(key))
            await #expect {
                try await provider.verify(key: Secret("WRONGKEY0000000000000000000000000000"))
            } throws: { error in
                (error as? ProviderError)?.status == 401 && (error as? ProviderError)?.isTransient == false
            }
        }
    }

    @Test("create returns the plaintext once; list shows the key masked, resolvable by suffix; delete removes it", arguments: VultrAdapter.allCases)
    func lifecycle(_ adapter: VultrAdapter) async throws {
        try await self.withFake(adapter) { fake, provider in
            let (user, key) = fake.addUser()
            let current = Secret(key)
            let expiry = Date(timeIntervalSince1970: 1_900_000_000)
            let created = try await provider.createKey(name: "rotor-job_x", expiresAt: expiry, using: current)
            #expect(created.key.name == "rotor-job_x")
            #expect(created.secret.reveal().count == 36)
            #expect(fake.keys(ofUser: user).contains { $0.id == created.key.id && $0.secret == created.secret.reveal() && $0.dateExpire == expiry })

            // The new key works on its own.
            try await provider.verify(key: created.secret)

            let listed = try await provider.listKeys(using: created.secret)
            #expect(Set(listed.map(\.id)) == Set(fake.keys(ofUser: user).map(\.id)))
            let mine = try #require(listed.first { $0.id == created.key.id })
            #expect(mine.visibleSuffix == created.secret.suffix(5))
            #expect(KeyResolution(of: current, in: listed).foundID == (try #require(fake.keys(ofUser: user).first { $0.secret == key }).id))

            // Delete the old key with the new one, as `revoke` does; again is still success.
            let oldID = try #require(fake.keys(ofUser: user).first { $0.secret == key }?.id)
            try await provider.deleteKey(id: oldID, using: created.secret)
            try await provider.deleteKey(id: oldID, using: created.secret)
            #expect(fake.key(id: oldID) == nil)
            await #expect(throws: ProviderError.self) { try await provider.verify(key: current) }
        }
    }

    @Test("listing follows pages until the last", arguments: VultrAdapter.allCases)
    func paging(_ adapter: VultrAdapter) async throws {
        try await self.withFake(adapter) { fake, provider in
            let (user, key) = fake.addUser()
            for index in 0..<620 {
                _ = fake.addKey(toUser: user, name: "bulk-\(index)")
            }
            let listed = try await provider.listKeys(using: Secret(key))
            #expect(listed.count == 621)
            #expect(Set(listed.map(\.id)).count == 621)
            #expect(fake.requestCounts(.list).succeeded >= 2)
        }
    }

    @Test("5xx and 429 are transient, 429 with its Retry-After; 4xx other than 404 are permanent", arguments: VultrAdapter.allCases)
    func classification(_ adapter: VultrAdapter) async throws {
        try await self.withFake(adapter) { fake, provider in
            let (_, key) = fake.addUser()
            fake.failNext(1, status: .badGateway, on: .create)
            await #expect {
                _ = try await provider.createKey(name: "a", expiresAt: nil, using: Secret(key))
            } throws: { error in
                (error as? ProviderError).map { $0.isTransient && $0.status == 502 } ?? false
            }
            fake.rateLimitNext(1, retryAfter: 7, on: .account)
            await #expect {
                try await provider.verify(key: Secret(key))
            } throws: { error in
                (error as? ProviderError)?.kind == .transient(retryAfter: .seconds(7))
            }
            fake.failNext(1, status: .forbidden, on: .delete)
            await #expect {
                try await provider.deleteKey(id: "anything", using: Secret(key))
            } throws: { error in
                (error as? ProviderError).map { !$0.isTransient && $0.status == 403 } ?? false
            }
        }
    }

    @Test("a dropped connection after create is transient, and the key it made is findable by its name", arguments: VultrAdapter.allCases)
    func droppedCreate(_ adapter: VultrAdapter) async throws {
        try await self.withFake(adapter) { fake, provider in
            let (user, key) = fake.addUser()
            fake.dropAfterCreate(1)
            await #expect {
                _ = try await provider.createKey(name: "rotor-job_orphan", expiresAt: nil, using: Secret(key))
            } throws: { error in
                (error as? ProviderError)?.isTransient == true
            }
            let orphans = try await provider.listKeys(using: Secret(key)).filter { $0.name == "rotor-job_orphan" }
            #expect(orphans.count == 1)
            #expect(fake.keys(ofUser: user).contains { $0.name == "rotor-job_orphan" })
        }
    }

    @Test("an unreachable provider is a transient error, and its message carries no key", arguments: VultrAdapter.allCases)
    func unreachable(_ adapter: VultrAdapter) async throws {
        let provider = try adapter.make(baseURL: "http://127.0.0.1:1", requestTimeout: .seconds(2))
        let key = "SECRETKEY000000000000000000000000000"
        await #expect {
            try await provider.verify(key: Secret(key))
        } throws: { error in
            guard let error = error as? ProviderError else { return false }
            return error.isTransient && !error.description.contains(key)
        }
    }

    @Test("masked keys yield their visible tail in either masking style", arguments: [
        ("*****...abcde", "abcde"), ("*******************************abcde", "abcde"), ("", ""),
    ])
    func masking(masked: String, suffix: String) {
        #expect(ProviderHTTP.visibleSuffix(of: masked) == suffix)
        let listed = ProviderKey(id: "k", name: "", visibleSuffix: ProviderHTTP.visibleSuffix(of: masked))
        let expected: KeyResolution = suffix.isEmpty ? .notFound : .found(listed)
        #expect(KeyResolution(of: Secret("XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXabcde"), in: [listed]) == expected)
    }

    @Test("two keys with the same suffix are ambiguous, not guessed")
    func ambiguous() {
        let keys = [ProviderKey(id: "a", name: "", visibleSuffix: "abcde"), ProviderKey(id: "b", name: "", visibleSuffix: "abcde")]
        #expect(KeyResolution(of: Secret("ZZZZZabcde"), in: keys) == .ambiguous(["a", "b"]))
    }
}

extension KeyResolution {
    /// The id found, if exactly one key matched.
    var foundID: String? {
        if case .found(let key) = self { return key.id }
        return nil
    }
}
