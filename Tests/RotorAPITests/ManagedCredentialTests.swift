import FakeVultr
import Foundation
import NIOHTTP1
import RotorCore
import Testing

/// Rotations of a Vultr sub-user's key (`vultr-user`) through a manager credential, with the
/// engine running against FakeVultr: the scenario suite the built-in `vultr` passes, through the
/// generic engine and the manager's key.
@Suite(.timeLimit(.minutes(1))) struct ManagedCredentialTests {
    /// A fault the fake applies before the rotation, and what the job must end as.
    struct Scenario: Sendable, CustomTestStringConvertible {
        var name: String
        var fault: @Sendable (FakeVultr) -> Void
        var outcome: String

        var testDescription: String { self.name }
    }

    static let scenarios: [Scenario] = [
        Scenario(name: "success", fault: { _ in }, outcome: "succeeded"),
        Scenario(name: "429 with Retry-After on create, retried", fault: { $0.rateLimitNext(1, retryAfter: 0, on: .create) }, outcome: "succeeded"),
        Scenario(name: "503 twice on revoke's delete, retried", fault: { $0.failNext(2, status: .serviceUnavailable, on: .delete) }, outcome: "succeeded"),
        Scenario(name: "a lost create answer leaves no orphan", fault: { $0.dropAfterCreate() }, outcome: "succeeded"),
        Scenario(name: "a permanent refusal of the new key at verify rolls back", fault: { $0.failNext(1, status: .forbidden, on: .account) }, outcome: "rolled_back"),
    ]

    /// A root user (registered as a `vultr` manager credential) and a sub-user of its account
    /// (registered as `vultr-user`, managed through it): their ids and keys, and the two credentials.
    private static func registerManaged(_ live: LiveRotor) async throws
        -> (root: String, rootKey: String, user: String, userKey: String, managerID: String, managedID: String)
    {
        let (root, rootKey) = live.fake.addUser()
        let (user, userKey) = try #require(live.fake.addSubUser(to: root, name: "Workload", email: "w@example.com"))
        let manager = try await live.api(.POST, "/v1/credentials", json: #"{"name":"root","provider":"vultr","secret":"\#(rootKey)","targets":[]}"#)
        let managerID = try #require(manager.object["id"] as? String)
        let managed = try await live.api(
            .POST, "/v1/credentials",
            json: #"{"name":"workload","provider":"vultr-user","secret":"\#(userKey)","targets":[],"manager_credential_id":"\#(managerID)","subject":"\#(user)"}"#)
        #expect(managed.status == .created, "\(managed.body)")
        return (root, rootKey, user, userKey, managerID, try #require(managed.object["id"] as? String))
    }

    @Test("a vultr-user rotation through the manager's key", arguments: Self.scenarios)
    func rotation(_ scenario: Scenario) async throws {
        try await LiveRotor.run { live in
            let (root, rootKey, user, userKey, _, managedID) = try await Self.registerManaged(live)
            let oldKeyID = try #require(live.fake.keys(ofUser: user).first?.id)

            scenario.fault(live.fake)
            let job = try await live.api(.POST, "/v1/jobs", json: #"{"credential_id":"\#(managedID)"}"#)
            let done = try await live.finished(try #require(job.object["id"] as? String))
            #expect(done["state"] as? String == scenario.outcome, "\(done)")

            // The sub-user holds exactly one key: the new one after a success, the old one after
            // a rollback; the manager's own key is untouched.
            let keys = live.fake.keys(ofUser: user)
            #expect(keys.count == 1, "\(keys.map(\.name))")
            let credential = try await live.api(.GET, "/v1/credentials/\(managedID)").object
            let current = (credential["current"] as? [String: Any])?["provider_key_id"] as? String
            #expect(current == keys.first?.id)
            if scenario.outcome == "succeeded" {
                #expect(keys.first?.id != oldKeyID)
                #expect(keys.first?.secret != userKey)
            } else {
                #expect(keys.first?.id == oldKeyID)
            }
            #expect(live.fake.keys(ofUser: root).map(\.secret) == [rootKey])
        }
    }

    @Test("the manager's current key is read at each rotation: rotating the manager in between breaks nothing")
    func managerRotatedInBetween() async throws {
        try await LiveRotor.run { live in
            let (root, rootKey, user, userKey, managerID, managedID) = try await Self.registerManaged(live)

            for credential in [managerID, managedID, managerID, managedID] {
                let job = try await live.api(.POST, "/v1/jobs", json: #"{"credential_id":"\#(credential)"}"#)
                let done = try await live.finished(try #require(job.object["id"] as? String))
                #expect(done["state"] as? String == "succeeded", "\(done)")
            }
            // Each user holds one key, neither the one it started with.
            #expect(live.fake.keys(ofUser: root).count == 1)
            #expect(live.fake.keys(ofUser: root).first?.secret != rootKey)
            #expect(live.fake.keys(ofUser: user).count == 1)
            #expect(live.fake.keys(ofUser: user).first?.secret != userKey)
        }
    }
}
