import FakeVultr
import Foundation
import Testing

extension CrashTests {
    /// Issue 15: a `vultr-user` key rotated through a manager credential keeps the guarantees of
    /// a `vultr` key: kill -9 while its create or revoke is in flight at the provider (both made
    /// with the manager's key), and after a restart the job succeeds, the sub-user holds exactly
    /// the new key, and the manager's key is untouched. Nested in ``CrashTests`` to be serialized
    /// with the other kill -9 cases.
    @Suite struct ManagedKillTests {
        @Test("kill -9 during a managed key's create or revoke; after a restart the job succeeds, the sub-user holds only the new key",
              arguments: [FakeVultr.Operation.create, .delete], CrashStore.all)
        func killDuring(operation: FakeVultr.Operation, store: CrashStore) async throws {
            try await CrashScenario.run(store: store) { scenario in
                let (credentialID, account) = try await scenario.registerManaged()
                let before = scenario.fake.requestCounts(operation).received
                scenario.fake.setLatency(.milliseconds(800), on: operation)
                let jobID = try await scenario.startJob(credentialID)
                try await scenario.waitUntil("the job calls \(operation)") { scenario.fake.requestCounts(operation).received > before }
                try await scenario.kill()
                if operation == .create {
                    // The create lands after Rotor died: its answer, with the plaintext, is lost.
                    try await scenario.waitUntil("the create completes") { scenario.fake.requestCounts(.create).succeeded > 0 }
                }
                scenario.fake.clearFaults()
                try await scenario.restart()
                try await scenario.expectSucceeded(jobID, credentialID, account: account)
                #expect(scenario.fake.keys(ofUser: scenario.userID).map(\.secret) == [scenario.vultrKey], "the manager's own key is untouched")
                try await scenario.finish()
            }
        }
    }
}
