import FakeVultr
import Foundation
import NIOHTTP1
import Testing

extension CrashTests {
    /// Issue 15: a `vultr-user` key rotated through a manager credential keeps the guarantees of
    /// a `vultr` key: kill -9 while its create or revoke is in flight at the provider (both made
    /// with the manager's key), and after a restart the job succeeds, the sub-user holds exactly
    /// the new key, and the manager's key is untouched. Nested in ``CrashTests`` to be serialized
    /// with the other kill -9 cases.
    @Suite struct ManagedKillTests {
        /// A fault the fake applies before the rotation, and the state the job must end in.
        static let scenarios: [(name: String, fault: @Sendable (FakeVultr) -> Void, outcome: String)] = [
            ("success", { _ in }, "succeeded"),
            ("429 on create", { $0.rateLimitNext(1, retryAfter: 0, on: .create) }, "succeeded"),
            ("503 on revoke's delete", { $0.failNext(2, status: .serviceUnavailable, on: .delete) }, "succeeded"),
            ("lost create answer", { $0.dropAfterCreate() }, "succeeded"),
            ("403 for the new key at verify", { $0.failNext(1, status: .forbidden, on: .account) }, "rolled_back"),
        ]

        @Test("the vultr-user scenario suite with real processes, on SQLite and PostgreSQL: every job ends as it should with one key at the provider",
              arguments: ["success", "429 on create", "503 on revoke's delete", "lost create answer", "403 for the new key at verify"], CrashStore.all)
        func scenario(name: String, store: CrashStore) async throws {
            let scenario = try #require(Self.scenarios.first { $0.name == name })
            try await CrashScenario.run(store: store) { world in
                let (credentialID, account) = try await world.registerManaged()
                scenario.fault(world.fake)
                let jobID = try await world.startJob(credentialID)
                if scenario.outcome == "succeeded" {
                    try await world.expectSucceeded(jobID, credentialID, account: account)
                } else {
                    let finished = try await world.finished(jobID)
                    #expect(finished["state"] as? String == scenario.outcome, "\(finished)")
                    #expect(world.fake.keys(ofUser: account.userID).map(\.id) == [account.initialKeyID])
                    try await world.expectEveryKeyAccountedFor(credentialID, account: account)
                }
                #expect(world.fake.keys(ofUser: world.userID).map(\.secret) == [world.vultrKey], "the manager's own key is untouched")
                try await world.finish()
            }
        }

        @Test("kill -9 during a managed key's create or revoke; after a restart the job succeeds, the sub-user holds only the new key",
              arguments: [FakeVultr.Operation.create, .delete], CrashStore.all)
        func killDuring(operation: FakeVultr.Operation, store: CrashStore) async throws {
            try await CrashScenario.run(store: store) { scenario in
                let (credentialID, account) = try await scenario.registerManaged()
                let jobID = try await scenario.startJobAndKill(credentialID, during: operation)
                try await scenario.expectSucceeded(jobID, credentialID, account: account)
                #expect(scenario.fake.keys(ofUser: scenario.userID).map(\.secret) == [scenario.vultrKey], "the manager's own key is untouched")
                try await scenario.finish()
            }
        }
    }
}
