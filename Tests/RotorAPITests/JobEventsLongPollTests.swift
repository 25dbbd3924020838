import FakeVultr
import Foundation
import NIOHTTP1
import Testing

/// `GET /v1/jobs/{id}/events?after=&wait=` over a real socket with the engine running: answers at
/// once when the job has events after `after`, holds while it has none and answers when the job
/// moves, answers an empty page when the wait ends, and refuses bad queries.
@Suite(.timeLimit(.minutes(2))) struct JobEventsLongPollTests {
    private static func seqs(_ reply: LiveRotor.Reply) -> [Int] {
        (reply.object["data"] as? [[String: Any]] ?? []).compactMap { $0["seq"] as? Int }
    }

    @Test("events?after=&wait= answers at once with newer events, holds until the job moves, and 422 on bad after or wait")
    func longPoll() async throws {
        try await LiveRotor.run { rotor in
            // An agent target holds the job in verify until the agent acknowledges: a job at rest.
            let (_, key) = rotor.fake.addUser()
            let created = try await rotor.api(
                .POST, "/v1/credentials", json: #"{"name":"events-poll","provider":"vultr","secret":"\#(key)","targets":[{"type":"agent","group":"web"}]}"#)
            let credential = try #require(created.object["id"] as? String, "\(created)")
            let token = try await rotor.api(.POST, "/v1/tokens", json: #"{"name":"agent","scopes":["agent"],"credential_ids":["\#(credential)"]}"#)
            let agent = [("Authorization", "Bearer \(try #require(token.object["token"] as? String))")]
            // The instance is live from its first fetch, so the rotation waits for its acknowledgement.
            #expect(try await rotor.send(.GET, "/v1/credentials/\(credential)/agent/key?instance=web-1&group=web", headers: agent).status == .ok)
            let job = try #require(try await rotor.api(.POST, "/v1/jobs", json: #"{"credential_id":"\#(credential)"}"#).object["id"] as? String)
            let events = "/v1/jobs/\(job)/events"

            let started = ContinuousClock.now
            let first = try await rotor.api(.GET, events + "?after=0&wait=PT30S")
            #expect(first.status == .ok)
            #expect(Self.seqs(first).first == 1, "\(first)")
            #expect(ContinuousClock.now - started < .seconds(5), "events already there were held")

            for bad in ["?after=-1", "?after=x", "?after=1&wait=PT61S", "?after=1&wait=soon"] {
                let reply = try await rotor.api(.GET, events + bad)
                #expect(reply.status == .unprocessableEntity, "\(bad): \(reply)")
                #expect(reply.headers.first(name: "Content-Type") == "application/problem+json")
            }

            // Wait for the job to come to rest in verify, following it with the long-poll itself.
            var seen = Self.seqs(first).max() ?? 0
            while try await rotor.api(.GET, "/v1/jobs/\(job)").object["step"] as? String != "verify" {
                seen = Self.seqs(try await rotor.api(.GET, events + "?after=\(seen)&wait=PT2S")).max() ?? seen
            }
            // In verify the engine may still note things without moving the job: a wait on
            // the last of them then answers an empty page at the end of its wait.
            var idleStart = ContinuousClock.now
            var idle = try await rotor.api(.GET, events + "?after=\(seen)&wait=PT1S")
            for _ in 0..<5 where !Self.seqs(idle).isEmpty {
                seen = Self.seqs(idle).max() ?? seen
                idleStart = ContinuousClock.now
                idle = try await rotor.api(.GET, events + "?after=\(seen)&wait=PT1S")
            }
            #expect(idle.status == .ok)
            #expect(Self.seqs(idle).isEmpty, "\(idle)")
            #expect(ContinuousClock.now - idleStart >= .milliseconds(900), "the wait ended early")
            let everything = Self.seqs(try await rotor.api(.GET, events))
            #expect(everything == Array(1...seen), "without after: every event, in order")

            let heldStart = ContinuousClock.now
            let heldPath = events + "?after=\(seen)&wait=PT30S"
            let held = Task { try await rotor.api(.GET, heldPath) }
            try await Task.sleep(for: .milliseconds(300))
            let ack = try await rotor.send(
                .POST, "/v1/credentials/\(credential)/agent/acks", body: Array(#"{"instance":"web-1","group":"web","version":2,"outcome":"applied"}"#.utf8),
                headers: agent + [("Content-Type", "application/json")])
            #expect(ack.status == .ok, "\(ack)")
            let moved = try await held.value
            #expect(moved.status == .ok)
            #expect(ContinuousClock.now - heldStart >= .milliseconds(300), "answered before the job moved")
            #expect(!Self.seqs(moved).isEmpty && Self.seqs(moved).allSatisfy { $0 > seen }, "\(moved)")
            #expect(try await rotor.finished(job)["state"] as? String == "succeeded")

            // A finished job answers at once even with nothing newer.
            let total = Self.seqs(try await rotor.api(.GET, events)).max() ?? 0
            let doneStart = ContinuousClock.now
            let done = try await rotor.api(.GET, events + "?after=\(total)&wait=PT30S")
            #expect(done.status == .ok && Self.seqs(done).isEmpty)
            #expect(ContinuousClock.now - doneStart < .seconds(5))
        }
    }
}
