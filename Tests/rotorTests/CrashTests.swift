import AsyncHTTPClient
import ChildProcess
import FakeVultr
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorHTTP
import Synchronization
import Testing

/// DESIGN.md §2: a `kill -9` at any instant loses no key and leaves no orphan. The fake Vultr and
/// the webhook consumer run in the test process, so they outlive the killed `rotor`.
///
/// Kill points: in the middle of each provider call (list, create, account, delete), while a
/// target is being handed the new key (`distribute`) or told the old one is gone (`finalize`),
/// while a target's `verify_url` is being checked, during the grace period, in the middle of a
/// rollback's delete, list and `key.rolled_back` delivery, while a cancel from `grace` rolls back,
/// while a resumed job deletes the orphan an earlier kill left, on the way to `failed`, and with
/// several jobs in flight at once, and a cancel that overtakes a create cut off by a kill. Each
/// test ends with no key lost and no orphan at the provider
/// (``CrashScenario/expectEveryKeyAccountedFor(_:account:)``).
///
/// Every kill point runs on SQLite; with `ROTOR_TEST_DATABASE_URL` set, those taking a `store`
/// argument run on PostgreSQL too (each in a schema of its own): each provider call, distribute,
/// the orphan delete on resume, cancel from grace, the way to `failed`, several jobs in flight,
/// and the cancel that overtakes a create.
/// Serialized: each case runs `rotor serve` processes through restarts, and 26 at once on 2 cores
/// would starve them and every timing-sensitive test beside them.
@Suite(.timeLimit(.minutes(2)), .serialized) struct CrashTests {
    static let environment = [
        "ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token,
        "ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey,
        "ROTOR_RETRY_BASE": "PT0.05S",
        "ROTOR_RETRY_MAX": "PT0.2S",
        // A create cut off by the kill is waited out this long before its orphan is sought:
        // longer than any latency the tests inject, shorter than the 10 s default.
        "ROTOR_PROVIDER_TIMEOUT": "PT2S",
    ]

    @Test("kill -9 during a provider call; after a restart the job succeeds and the provider holds exactly the new key", arguments: [
        FakeVultr.Operation.list, .create, .account, .delete,
    ], CrashStore.all)
    func killDuring(operation: FakeVultr.Operation, store: CrashStore) async throws {
        try await CrashScenario.run(store: store) { scenario in
            let credentialID = try await scenario.register()
            let jobID = try await scenario.startJobAndKill(credentialID, during: operation)
            try await scenario.expectSucceeded(jobID, credentialID)
            try await scenario.finish()
        }
    }

    @Test("kill -9 while a target is handed the new key (distribute) or told the old one is revoked (finalize)", arguments: CrashStore.cases(
        sqlite: ["key.pending", "key.revoked"], postgres: ["key.pending"]
    ))
    func killDuringDelivery(event: String, store: CrashStore) async throws {
        try await CrashScenario.run(store: store) { scenario in
            let credentialID = try await scenario.register(withTarget: true)
            scenario.consumer.hold(event)
            let jobID = try await scenario.startJob(credentialID)
            try await Poll.until("the target receives \(event)") { scenario.consumer.received(event) > 0 }
            try await scenario.kill()
            scenario.consumer.hold(nil)
            try await scenario.restart()
            let newKeyID = try await scenario.expectSucceeded(jobID, credentialID)
            // Whatever was cut off, the consumer ends up holding the key that is current now.
            let newKey = try #require(scenario.fake.key(id: newKeyID))
            #expect(scenario.consumer.lastPendingSecret == newKey.secret)
            #expect(scenario.consumer.received("key.revoked") >= 1)
            try await scenario.finish()
        }
    }

    @Test("kill -9 during the grace period: after a restart the rest of the grace is kept, then the old key is revoked")
    func killDuringGrace() async throws {
        try await CrashScenario.run { scenario in
            let credentialID = try await scenario.register()
            let jobID = try await scenario.startJob(credentialID, grace: "PT2S")
            try await Poll.until("the job reaches grace") {
                let job = try await scenario.call(.GET, "/v1/jobs/\(jobID)")
                return job["step"] as? String == "grace"
            }
            // Both keys work during the grace period.
            #expect(scenario.fake.keys(ofUser: scenario.userID).count == 2)
            try await scenario.kill()
            try await scenario.restart()
            let newKeyID = try await scenario.expectSucceeded(jobID, credentialID)
            let job = try await scenario.call(.GET, "/v1/jobs/\(jobID)/events")
            let types = (job["data"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
            #expect(types.contains("key.current") && types.contains("job.succeeded"), "\(types)")
            #expect(scenario.fake.key(id: newKeyID) != nil)
            try await scenario.finish()
        }
    }

    @Test("kill -9 in the middle of a rollback's delete: after a restart the job is rolled back and only the old key exists")
    func killDuringRollback() async throws {
        try await CrashScenario.run { scenario in
            let credentialID = try await scenario.register(withTarget: true)
            // The consumer refuses the new key for good (400): the job must roll back, deleting it.
            scenario.consumer.refuse("key.pending")
            let before = scenario.fake.requestCounts(.delete).received
            scenario.fake.setLatency(.milliseconds(800), on: .delete)
            let jobID = try await scenario.startJob(credentialID)
            try await Poll.until("the rollback deletes the new key") { scenario.fake.requestCounts(.delete).received > before }
            try await scenario.kill()
            scenario.fake.clearFaults()
            try await scenario.restart()

            let finished = try await scenario.call(.GET, "/v1/jobs/\(jobID)?wait=PT30S")
            #expect(finished["state"] as? String == "rolled_back", "\(finished)")
            let keys = scenario.fake.keys(ofUser: scenario.userID)
            #expect(keys.map(\.id) == [scenario.oldKeyID], "keys at the provider: \(keys)")
            let stored = try await scenario.call(.GET, "/v1/credentials/\(credentialID)")
            #expect((stored["current"] as? [String: Any])?["provider_key_id"] as? String == scenario.oldKeyID)
            #expect(stored["version"] as? Int == 1)
            #expect(stored["state"] as? String == "active")
            try await scenario.finish()
        }
    }

    @Test("kill -9 while a target's verify_url check is in flight: after a restart the check is made again and the job succeeds")
    func killDuringVerifyCheck() async throws {
        try await CrashScenario.run { scenario in
            let credentialID = try await scenario.register(withTarget: true, verifyURL: true)
            scenario.consumer.hold("verify")
            let jobID = try await scenario.startJob(credentialID)
            try await Poll.until("the target's verify URL is checked") { scenario.consumer.received("verify") > 0 }
            let during = try await scenario.call(.GET, "/v1/jobs/\(jobID)")
            #expect(during["step"] as? String == "verify", "\(during)")
            // The new key exists and is delivered, but the old one is still current.
            #expect(scenario.fake.keys(ofUser: scenario.userID).count == 2)
            try await scenario.kill()
            scenario.consumer.hold(nil)
            try await scenario.restart()

            let newKeyID = try await scenario.expectSucceeded(jobID, credentialID)
            #expect(scenario.consumer.received("verify") >= 2, "the check was not made again after the restart")
            let finished = try await scenario.call(.GET, "/v1/jobs/\(jobID)")
            let targets = finished["targets"] as? [[String: Any]] ?? []
            #expect(targets.map { $0["state"] as? String } == ["verified"], "\(targets)")
            #expect(scenario.consumer.lastPendingSecret == scenario.fake.key(id: newKeyID)?.secret)
            try await scenario.finish()
        }
    }

    @Test("kill -9 during create and restart at once: the create lands after the restart, and the resumed job waits it out, then deletes it as an orphan")
    func killDuringCreateRestartingAtOnce() async throws {
        try await CrashScenario.run { scenario in
            let credentialID = try await scenario.register()
            scenario.fake.setLatency(.milliseconds(1500), on: .create)
            let jobID = try await scenario.startJob(credentialID)
            try await Poll.until("the job calls create") { scenario.fake.requestCounts(.create).received > 0 }
            try await scenario.kill()
            // The create in flight keeps its latency; the restarted rotor's calls get none.
            scenario.fake.clearFaults()
            try await scenario.restart()
            #expect(scenario.fake.requestCounts(.create).succeeded == 0, "the create landed before the restart: the race was not exercised")

            _ = try await scenario.finished(jobID)
            try await Poll.until("the create cut off by the kill has landed") { scenario.fake.requestCounts(.create).succeeded >= 2 }
            try await scenario.expectSucceeded(jobID, credentialID)
            #expect(scenario.fake.createdKeyNames() == ["rotor-\(jobID)", "rotor-\(jobID)"])
            let events = try await scenario.call(.GET, "/v1/jobs/\(jobID)/events")
            let types = (events["data"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
            #expect(types.contains("key.orphan_deleted"), "\(types)")
            try await scenario.finish()
        }
    }

    @Test(
        "kill -9 during a slow create, restart and cancel at once while that create is still in flight: the rollback waits until the create could have landed, deletes its key, and the job ends cancelled with only the old key",
        arguments: CrashStore.cases(sqlite: [true, false], postgres: [true])
    )
    func cancelOvertakingAnInterruptedCreate(anotherInstance: Bool, store: CrashStore) async throws {
        // The create takes 4 s, within the 5 s provider timeout. With a 1 s lease, a rotor
        // restarted as another instance claims the job only once the dead one's lease lapses,
        // after the cancel: the job it finds is already rolling back, and its orphan listing
        // would run seconds before the create lands. Restarted as the same instance, rotor takes
        // the job back at once, at create, and the cancel arrives while that waits.
        let environment = ["ROTOR_PROVIDER_TIMEOUT": "PT5S", "ROTOR_LEASE_DURATION": "PT1S"]
        try await CrashScenario.run(store: store, environment: environment) { scenario in
            let credentialID = try await scenario.register()
            scenario.fake.setLatency(.seconds(4), on: .create)
            let jobID = try await scenario.startJob(credentialID)
            try await Poll.until("the job calls create") { scenario.fake.requestCounts(.create).received > 0 }
            try await scenario.kill()
            // The create in flight keeps its latency; the restarted rotor's calls get none.
            scenario.fake.clearFaults()
            try await scenario.restart(asAnotherInstance: anotherInstance)
            let cancelled = try await scenario.call(.POST, "/v1/jobs/\(jobID)/cancel")
            #expect(cancelled["step"] as? String == "rollback", "\(cancelled)")
            #expect(scenario.fake.requestCounts(.create).succeeded == 0, "the create landed before the cancel: the race was not exercised")

            let finished = try await scenario.finished(jobID)
            #expect(finished["state"] as? String == "cancelled", "\(finished)")
            #expect(finished["new_key"] is NSNull || finished["new_key"] == nil, "\(finished)")
            #expect(scenario.fake.requestCounts(.create).succeeded == 1, "the rollback ended before the create in flight could have landed")
            try await Poll.until("the create cut off by the kill has landed") { scenario.fake.requestCounts(.create).succeeded >= 1 }
            #expect(scenario.fake.requestCounts(.create).received == 1, "the cancelled job created a key again")
            let keys = scenario.fake.keys(ofUser: scenario.userID)
            #expect(keys.map(\.id) == [scenario.oldKeyID], "keys at the provider: \(keys)")
            let events = try await scenario.call(.GET, "/v1/jobs/\(jobID)/events")
            let orphanDeletes = (events["data"] as? [[String: Any]] ?? []).filter { $0["type"] as? String == "key.orphan_deleted" }
            #expect(orphanDeletes.map { $0["step"] as? String } == ["rollback"], "\(events)")
            let stored = try await scenario.call(.GET, "/v1/credentials/\(credentialID)")
            #expect((stored["current"] as? [String: Any])?["provider_key_id"] as? String == scenario.oldKeyID)
            #expect(stored["version"] as? Int == 1)
            #expect(stored["state"] as? String == "active")
            #expect(try await scenario.currentSecret(credentialID) == scenario.vultrKey)
            try await scenario.expectEveryKeyAccountedFor(credentialID)
            try await scenario.finish()
        }
    }

    @Test("kill -9 during create, then again while the resumed job deletes the orphan: after a second restart the job succeeds with no orphan", arguments: CrashStore.cases(
        sqlite: [true, false], postgres: [true]
    ))
    func killDuringOrphanDelete(deleteTakesEffect: Bool, store: CrashStore) async throws {
        try await CrashScenario.run(store: store) { scenario in
            let credentialID = try await scenario.register()
            scenario.fake.setLatency(.milliseconds(800), on: .create)
            let jobID = try await scenario.startJob(credentialID)
            try await Poll.until("the job calls create") { scenario.fake.requestCounts(.create).received > 0 }
            try await scenario.kill()
            // The provider makes the key after Rotor died: an orphan named for the job.
            try await Poll.until("the create completes") { scenario.fake.requestCounts(.create).succeeded > 0 }
            let orphan = try #require(scenario.fake.keys(ofUser: scenario.userID).last)
            #expect(orphan.name == "rotor-\(jobID)" && orphan.id != scenario.oldKeyID)

            // The resumed create lists the keys, finds the orphan and deletes it: the kill lands in
            // that delete, which either still takes effect at the provider or never does.
            scenario.fake.clearFaults()
            let deletes = scenario.fake.requestCounts(.delete).received
            scenario.fake.setLatency(.milliseconds(800), on: .delete)
            if !deleteTakesEffect { scenario.fake.failNext(1, on: .delete) }
            try await scenario.restart()
            try await Poll.until("the resumed job deletes the orphan") { scenario.fake.requestCounts(.delete).received > deletes }
            try await scenario.kill()
            #expect(scenario.fake.createdKeyNames().count == 1, "created again before the orphan was gone")
            if deleteTakesEffect {
                try await Poll.until("the orphan's delete completes") { scenario.fake.key(id: orphan.id) == nil }
            } else {
                try await Task.sleep(for: .milliseconds(900))
                #expect(scenario.fake.key(id: orphan.id) != nil, "the injected failure did not keep the orphan")
            }
            scenario.fake.clearFaults()
            try await scenario.restart()

            let newKeyID = try await scenario.expectSucceeded(jobID, credentialID)
            #expect(newKeyID != orphan.id)
            #expect(scenario.fake.key(id: orphan.id) == nil)
            #expect(scenario.fake.createdKeyNames() == ["rotor-\(jobID)", "rotor-\(jobID)"])
            if !deleteTakesEffect {
                let events = try await scenario.call(.GET, "/v1/jobs/\(jobID)/events")
                let types = (events["data"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
                #expect(types.contains("key.orphan_deleted"), "\(types)")
            }
            try await scenario.finish()
        }
    }

    @Test("kill -9 while a cancel from grace rolls back (the new key's delete in flight): after a restart the job is cancelled and the old key is current again", arguments: CrashStore.all)
    func killDuringCancelFromGrace(store: CrashStore) async throws {
        try await CrashScenario.run(store: store) { scenario in
            let credentialID = try await scenario.register(withTarget: true)
            let jobID = try await scenario.startJob(credentialID, grace: "PT60S")
            try await Poll.until("the job waits out its grace period") {
                let job = try await scenario.call(.GET, "/v1/jobs/\(jobID)")
                return job["step"] as? String == "grace"
            }
            let inGrace = try await scenario.call(.GET, "/v1/jobs/\(jobID)")
            let newKeyID = try #require((inGrace["new_key"] as? [String: Any])?["provider_key_id"] as? String)
            let credential = try await scenario.call(.GET, "/v1/credentials/\(credentialID)")
            #expect((credential["current"] as? [String: Any])?["provider_key_id"] as? String == newKeyID)
            #expect(credential["version"] as? Int == 2)

            let deletes = scenario.fake.requestCounts(.delete).received
            scenario.fake.setLatency(.milliseconds(800), on: .delete)
            let cancelled = try await scenario.call(.POST, "/v1/jobs/\(jobID)/cancel")
            #expect(cancelled["step"] as? String == "rollback", "\(cancelled)")
            try await Poll.until("the rollback deletes the new key") { scenario.fake.requestCounts(.delete).received > deletes }
            try await scenario.kill()
            scenario.fake.clearFaults()
            try await scenario.restart()

            let finished = try await scenario.finished(jobID)
            #expect(finished["state"] as? String == "cancelled", "\(finished)")
            let keys = scenario.fake.keys(ofUser: scenario.userID)
            #expect(keys.map(\.id) == [scenario.oldKeyID], "keys at the provider: \(keys)")
            let stored = try await scenario.call(.GET, "/v1/credentials/\(credentialID)")
            #expect((stored["current"] as? [String: Any])?["provider_key_id"] as? String == scenario.oldKeyID)
            #expect(stored["previous"] is NSNull || stored["previous"] == nil, "\(stored)")
            #expect(stored["version"] as? Int == 3)
            #expect(stored["state"] as? String == "active")
            #expect(try await scenario.currentSecret(credentialID) == scenario.vultrKey)
            #expect(scenario.consumer.received("key.rolled_back") >= 1)
            try await scenario.expectEveryKeyAccountedFor(credentialID)
            try await scenario.finish()
        }
    }

    @Test("kill -9 during a rollback's orphan listing or its key.rolled_back delivery: after a restart the job is rolled back and the target told", arguments: [
        "list", "key.rolled_back",
    ])
    func killDuringRollbackStep(point: String) async throws {
        try await CrashScenario.run { scenario in
            let credentialID = try await scenario.register(withTarget: true, verifyURL: true)
            // The target takes the new key, but its verify URL refuses it for good (400): the job
            // rolls back, deleting the new key, listing for orphans and telling the target.
            scenario.consumer.refuse("verify")
            let lists = scenario.fake.requestCounts(.list).received
            if point == "list" {
                scenario.fake.setLatency(.milliseconds(800), on: .list)
            } else {
                scenario.consumer.hold("key.rolled_back")
            }
            let jobID = try await scenario.startJob(credentialID)
            if point == "list" {
                // The first list is create's orphan check; the second, after the delete, the rollback's.
                try await Poll.until("the rollback lists the keys") {
                    scenario.fake.requestCounts(.delete).succeeded > 0 && scenario.fake.requestCounts(.list).received >= lists + 2
                }
            } else {
                try await Poll.until("the target is told key.rolled_back") { scenario.consumer.received("key.rolled_back") > 0 }
            }
            let during = try await scenario.call(.GET, "/v1/jobs/\(jobID)")
            #expect(during["step"] as? String == "rollback", "\(during)")
            try await scenario.kill()
            scenario.fake.clearFaults()
            scenario.consumer.hold(nil)
            try await scenario.restart()

            let finished = try await scenario.finished(jobID)
            #expect(finished["state"] as? String == "rolled_back", "\(finished)")
            #expect((finished["error"] as? [String: Any])?["code"] as? String == "verify_failed", "\(finished)")
            let targets = finished["targets"] as? [[String: Any]] ?? []
            #expect(targets.map { $0["state"] as? String } == ["rolled_back"], "\(targets)")
            #expect(scenario.consumer.received("key.rolled_back") >= (point == "list" ? 1 : 2))
            let keys = scenario.fake.keys(ofUser: scenario.userID)
            #expect(keys.map(\.id) == [scenario.oldKeyID], "keys at the provider: \(keys)")
            let stored = try await scenario.call(.GET, "/v1/credentials/\(credentialID)")
            #expect((stored["current"] as? [String: Any])?["provider_key_id"] as? String == scenario.oldKeyID)
            #expect(stored["version"] as? Int == 1)
            #expect(stored["state"] as? String == "active")
            try await scenario.expectEveryKeyAccountedFor(credentialID)
            try await scenario.finish()
        }
    }

    @Test("kill -9 in revoke's last attempt, then right after the job failed: the credential is in attention and both keys are recorded", arguments: CrashStore.cases(
        sqlite: [403, 503], postgres: [403]
    ))
    func killOnTheWayToFailed(status: Int, store: CrashStore) async throws {
        // Three attempts per step keep the run short; a 403 is final at the first.
        try await CrashScenario.run(store: store, environment: ["ROTOR_STEP_ATTEMPTS": "3"]) { scenario in
            let credentialID = try await scenario.register(withTarget: true)
            let deletes = scenario.fake.requestCounts(.delete).received
            scenario.fake.failNext(1000, status: HTTPResponseStatus(statusCode: status), on: .delete)
            scenario.fake.setLatency(.milliseconds(600), on: .delete)
            let jobID = try await scenario.startJob(credentialID)
            let last = status == 403 ? 1 : 3
            try await Poll.until("revoke's attempt \(last) is in flight") { scenario.fake.requestCounts(.delete).received >= deletes + last }
            try await scenario.kill()
            scenario.fake.setLatency(.zero)
            try await scenario.restart()

            let failed = try await scenario.finished(jobID)
            #expect(failed["state"] as? String == "failed", "\(failed)")
            let error = failed["error"] as? [String: Any]
            #expect(error?["step"] as? String == "revoke", "\(failed)")
            #expect(error?["code"] as? String == (status == 403 ? "revoke_failed" : "retries_exhausted"), "\(failed)")
            let newKeyID = try #require((failed["new_key"] as? [String: Any])?["provider_key_id"] as? String)

            // Killed again just after that commit: nothing moves on the next start.
            try await scenario.kill()
            let deletesAtFailure = scenario.fake.requestCounts(.delete).received
            try await scenario.restart()
            try await Task.sleep(for: .milliseconds(500))
            let after = try await scenario.call(.GET, "/v1/jobs/\(jobID)")
            #expect(after["state"] as? String == "failed" && after["updated_at"] as? String == failed["updated_at"] as? String, "\(after)")
            #expect(scenario.fake.requestCounts(.delete).received == deletesAtFailure)

            let stored = try await scenario.call(.GET, "/v1/credentials/\(credentialID)")
            #expect(stored["state"] as? String == "attention", "\(stored)")
            #expect((stored["current"] as? [String: Any])?["provider_key_id"] as? String == newKeyID)
            #expect((stored["previous"] as? [String: Any])?["provider_key_id"] as? String == scenario.oldKeyID)
            let keys = scenario.fake.keys(ofUser: scenario.userID)
            #expect(keys.map(\.id) == [scenario.oldKeyID, newKeyID], "keys at the provider: \(keys)")
            #expect(try await scenario.currentSecret(credentialID) == scenario.fake.key(id: newKeyID)?.secret)
            // The old key was not deleted, so the target is not told it was.
            #expect(scenario.consumer.received("key.revoked") == 0)
            try await scenario.expectEveryKeyAccountedFor(credentialID)
            scenario.fake.clearFaults()
            try await scenario.finish()
        }
    }

    @Test("kill -9 with eight jobs in flight at once: after a restart every one succeeds, each account holding exactly its new key", arguments: CrashStore.all)
    func killWithManyJobsInFlight(store: CrashStore) async throws {
        try await CrashScenario.run(store: store) { scenario in
            var rotations: [(account: ProviderAccount, credentialID: String)] = []
            for index in 0..<8 {
                let account = index == 0 ? scenario.account : scenario.addAccount()
                let credentialID = try await scenario.register(withTarget: index.isMultiple(of: 2), name: "crash-\(index)", account: account)
                rotations.append((account, credentialID))
            }
            // Every provider call is slow and the jobs start a little apart, so the kill finds
            // them spread over the steps: some keys made, some being made, some not yet.
            scenario.fake.setLatency(.milliseconds(250))
            var jobIDs: [String] = []
            for rotation in rotations {
                jobIDs.append(try await scenario.startJob(rotation.credentialID))
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Poll.until("half the new keys are made") { scenario.fake.requestCounts(.create).succeeded >= 4 }
            let running = try await scenario.call(.GET, "/v1/jobs?state=running&limit=200")
            #expect((running["data"] as? [Any])?.count ?? 0 >= 2, "\(running)")
            try await scenario.kill()
            scenario.fake.clearFaults()
            try await scenario.restart()

            for jobID in jobIDs { _ = try await scenario.finished(jobID) }
            // A create cut off by the kill may land late: judge the provider's keys once it has.
            try await Poll.until("every create sent has landed") {
                let creates = scenario.fake.requestCounts(.create)
                return creates.received == creates.succeeded
            }
            for (rotation, jobID) in zip(rotations, jobIDs) {
                try await scenario.expectSucceeded(jobID, rotation.credentialID, account: rotation.account)
            }
            try await scenario.finish()
        }
    }
}
