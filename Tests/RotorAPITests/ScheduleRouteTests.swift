import Foundation
import NIOHTTP1
import RotorAPI
import RotorCore
import Testing

/// A clock standing still at a whole second (API timestamps have no fraction).
struct StillClock: RotorClock {
    var instant = Date(timeIntervalSince1970: 1_800_000_000)
    func now() -> Date { self.instant }
    func sleep(until deadline: Date) async throws {}
}

/// `next_rotation_at` on credentials (DESIGN.md §4, Credentials, `schedule`).
@Suite struct ScheduleRouteTests {
    static let clock = StillClock()
    static let day: TimeInterval = 86_400

    static func iso(_ offset: TimeInterval) -> String {
        ISO8601DateFormatter().string(from: Self.clock.instant.addingTimeInterval(offset))
    }

    @Test("next_rotation_at: computed on create, shown by GET, null without a schedule")
    func shownOnCreateAndGet() async throws {
        try await APIHarness.run(clock: Self.clock) { api in
            let scheduled = try await CredentialRouteTests.create(api, name: "scheduled", ["schedule": ["every": "P30D"]])
            #expect(scheduled.reply.status == .created, "\(scheduled.reply)")
            #expect(scheduled.reply["next_rotation_at"] == Self.iso(30 * Self.day))
            let id = try #require(scheduled.reply["id"])
            let fetched = try await api.send(.GET, "/v1/credentials/\(id)")
            #expect(fetched["next_rotation_at"] == Self.iso(30 * Self.day))
            let listed = try await api.send(.GET, "/v1/credentials")
            let rows = listed.object["data"] as? [[String: Any]] ?? []
            #expect(rows.first { $0["id"] as? String == id }?["next_rotation_at"] as? String == Self.iso(30 * Self.day))

            let plain = try await CredentialRouteTests.create(api, name: "plain")
            #expect(plain.reply.object["next_rotation_at"] is NSNull)
        }
    }

    @Test("PATCH of the schedule or the state recomputes next_rotation_at; disabled shows null; a labels change leaves it")
    func recomputedOnPatch() async throws {
        try await APIHarness.run(clock: Self.clock) { api in
            let created = try await CredentialRouteTests.create(api, ["schedule": ["every": "P30D"]])
            let id = try #require(created.reply["id"])
            let path = "/v1/credentials/\(id)"

            let weekly = try await api.send(.PATCH, path, json: ["schedule": ["every": "P7D"]])
            #expect(weekly.status == .ok, "\(weekly)")
            #expect(weekly["next_rotation_at"] == Self.iso(7 * Self.day))
            #expect(try await api.send(.GET, path)["next_rotation_at"] == Self.iso(7 * Self.day))

            // The key has no provider expiry, so before_expiry alone never makes a rotation due.
            let byExpiry = try await api.send(.PATCH, path, json: ["schedule": ["before_expiry": "P7D"]])
            #expect(byExpiry.object["next_rotation_at"] is NSNull)

            let daily = try await api.send(.PATCH, path, json: ["schedule": ["every": "P1D", "before_expiry": "P7D"]])
            #expect(daily["next_rotation_at"] == Self.iso(Self.day))

            let disabled = try await api.send(.PATCH, path, json: ["state": "disabled"])
            #expect(disabled.object["next_rotation_at"] is NSNull)
            let enabled = try await api.send(.PATCH, path, json: ["state": "active"])
            #expect(enabled["next_rotation_at"] == Self.iso(Self.day))

            // The scheduler's retry time (set when a scheduled job starts) survives a labels change.
            let credentialID = try #require(CredentialID(id))
            var stored = try #require(try await api.store.credential(credentialID))
            stored.nextRotationAt = Self.clock.instant.addingTimeInterval(3600)
            try await api.store.updateCredential(stored, signingSecrets: nil)
            let labelled = try await api.send(.PATCH, path, json: ["labels": ["team": "x"]])
            #expect(labelled["next_rotation_at"] == Self.iso(3600))

            let cleared = try await api.send(.PATCH, path, json: ["schedule": NSNull()])
            #expect(cleared.object["next_rotation_at"] is NSNull)
            #expect(try await api.store.credential(credentialID)?.nextRotationAt == nil)
        }
    }

    @Test("a schedule shorter than the minimum period (PT1H) is refused, by every or by a before_expiry that leaves less than it after key_expiry; nothing changes")
    func minimumPeriod() async throws {
        try await APIHarness.run(clock: Self.clock) { api in
            let tooOften = try await CredentialRouteTests.create(api, name: "often", ["schedule": ["every": "PT1S"]])
            #expect(tooOften.reply.status == .unprocessableEntity)
            #expect(tooOften.reply.body.contains("schedule.every") && tooOften.reply.body.contains("PT1H"))
            let expiring = try await CredentialRouteTests.create(api, name: "expiring", ["key_expiry": "P1D", "schedule": ["before_expiry": "PT23H30M"]])
            #expect(expiring.reply.status == .unprocessableEntity)
            #expect(expiring.reply.body.contains("schedule.before_expiry"))

            let created = try await CredentialRouteTests.create(api, name: "hourly-ok", ["key_expiry": "P1D", "schedule": ["every": "PT1H"]])
            #expect(created.reply.status == .created, "\(created.reply)")
            let id = try #require(created.reply["id"])
            let path = "/v1/credentials/\(id)"
            let before = try await api.send(.GET, path)
            let patched = try await api.send(.PATCH, path, json: ["schedule": ["every": "PT59M"]])
            #expect(patched.status == .unprocessableEntity)
            let nearExpiry = try await api.send(.PATCH, path, json: ["schedule": ["before_expiry": "PT23H1M"]])
            #expect(nearExpiry.status == .unprocessableEntity)
            #expect(try await api.send(.GET, path)["next_rotation_at"] == before["next_rotation_at"])
            #expect(try await api.send(.PATCH, path, json: ["schedule": ["before_expiry": "PT12H"]]).status == .ok)
        }
    }
}
