import FakeProviders
import Foundation
import NIOHTTP1
import RotorCore
import RotorProviders
import Testing

/// Rotations of credentials on the definitions shipped in `providers/` (Linode, SendGrid,
/// Scaleway), each file loaded as `ROTOR_PROVIDERS_DIR` would load it with `base_url` aimed at a
/// fake of that provider, with the engine running: the scenario suite the built-in `vultr` passes.
@Suite(.timeLimit(.minutes(1))) struct ShippedDefinitionRotationTests {
    /// A fault the fake applies before the rotation, and what the job must end as.
    struct Scenario: Sendable {
        var name: String
        var fault: @Sendable (FakeKeyAPI) -> Void
        var outcome: String
    }

    /// One scenario on one shipped definition.
    struct Case: Sendable, CustomTestStringConvertible {
        var shape: KeyAPIShape
        var account: String?
        var scenario: Scenario
        var testDescription: String { "\(self.shape.name): \(self.scenario.name)" }
    }

    static let scenarios: [Scenario] = [
        Scenario(name: "success", fault: { _ in }, outcome: "succeeded"),
        Scenario(name: "429 on create, retried", fault: { $0.rateLimitNext(1, retryAfter: 0, on: .create) }, outcome: "succeeded"),
        Scenario(name: "503 twice on revoke's delete, retried", fault: { $0.failNext(2, status: .serviceUnavailable, on: .delete) }, outcome: "succeeded"),
        Scenario(name: "a lost create answer leaves no orphan", fault: { $0.dropAfterCreate() }, outcome: "succeeded"),
        Scenario(name: "a permanent refusal of the new key at verify rolls back", fault: { $0.failNext(1, status: .forbidden, on: .verify) }, outcome: "rolled_back"),
    ]

    static let shipped: [(KeyAPIShape, String?)] = [(.linode, nil), (.sendgrid, nil), (.scaleway, "00000000-0000-4000-8000-000000000000")]

    static let cases: [Case] = Self.shipped.flatMap { shape, account in
        Self.scenarios.map { Case(shape: shape, account: account, scenario: $0) }
    }

    /// Rotor with the shipped definition of `shape` aimed at a running fake of it.
    private func withRotor(_ shape: KeyAPIShape, _ body: @escaping @Sendable (LiveRotor, FakeKeyAPI) async throws -> Void) async throws {
        let fake = FakeKeyAPI(shape, rateLimited: false)
        try await fake.run { baseURL in
            let definition = try ProviderDefinitions.load(yaml: try shape.shippedDefinition(baseURL: baseURL), file: "\(shape.name).yaml")
            try await LiveRotor.run(providerDefinitions: [definition]) { live in try await body(live, fake) }
        }
    }

    @Test("a rotation on a shipped definition", arguments: Self.cases)
    func rotation(_ test: Case) async throws {
        try await self.withRotor(test.shape) { live, fake in
            let (account, oldKeyID, oldSecret) = fake.addAccount(id: test.account)
            // None of the three lists a key's tail: the key is named by its id.
            let registered = try await live.api(
                .POST, "/v1/credentials",
                json: #"{"name":"workload","provider":"\#(test.shape.name)","secret":"\#(oldSecret)","targets":[],"provider_key_id":"\#(oldKeyID)"}"#)
            #expect(registered.status == .created, "\(registered.body)")
            let credentialID = try #require(registered.object["id"] as? String)

            test.scenario.fault(fake)
            let job = try await live.api(.POST, "/v1/jobs", json: #"{"credential_id":"\#(credentialID)"}"#)
            let done = try await live.finished(try #require(job.object["id"] as? String))
            #expect(done["state"] as? String == test.scenario.outcome, "\(done)")

            // Exactly one key at the provider: the new one after a success, the old one after a rollback.
            let keys = fake.keys(ofAccount: account)
            #expect(keys.count == 1, "\(keys)")
            let credential = try await live.api(.GET, "/v1/credentials/\(credentialID)").object
            #expect((credential["current"] as? [String: Any])?["provider_key_id"] as? String == keys.first?.id)
            if test.scenario.outcome == "succeeded" {
                #expect(keys.first?.id != oldKeyID)
                #expect(keys.first?.secret != oldSecret)
                #expect(keys.first?.name.hasPrefix("rotor-") == true)
            } else {
                #expect(keys.first?.id == oldKeyID)
            }
        }
    }

    @Test("a lost create answer: the orphan is found by name and deleted before the key is created again", arguments: Self.shipped.map { $0.0.name })
    func orphanDeleted(_ name: String) async throws {
        let (shape, account) = try #require(Self.shipped.first { $0.0.name == name })
        try await self.withRotor(shape) { live, fake in
            let (accountID, keyID, secret) = fake.addAccount(id: account)
            let registered = try await live.api(
                .POST, "/v1/credentials",
                json: #"{"name":"workload","provider":"\#(shape.name)","secret":"\#(secret)","targets":[],"provider_key_id":"\#(keyID)"}"#)
            let credentialID = try #require(registered.object["id"] as? String)
            fake.dropAfterCreate()
            let job = try await live.api(.POST, "/v1/jobs", json: #"{"credential_id":"\#(credentialID)"}"#)
            let done = try await live.finished(try #require(job.object["id"] as? String))
            #expect(done["state"] as? String == "succeeded", "\(done)")
            let created = fake.createdKeyNames()
            #expect(created.count == 2)
            #expect(Set(created).count == 1)
            #expect(fake.keys(ofAccount: accountID).map(\.name) == [created[0]])
        }
    }

    @Test("registration without provider_key_id is refused: the provider lists no part of a key")
    func registrationNeedsKeyID() async throws {
        try await self.withRotor(.sendgrid) { live, fake in
            let (_, _, secret) = fake.addAccount()
            let refused = try await live.api(.POST, "/v1/credentials", json: #"{"name":"workload","provider":"sendgrid","secret":"\#(secret)","targets":[]}"#)
            #expect(refused.status == .unprocessableEntity, "\(refused.body)")
            #expect(refused.body.contains("provider_key_id"))
            let unknown = try await live.api(
                .POST, "/v1/credentials", json: #"{"name":"workload","provider":"sendgrid","secret":"\#(secret)","targets":[],"provider_key_id":"nope"}"#)
            #expect(unknown.status == .unprocessableEntity, "\(unknown.body)")
        }
    }
}
