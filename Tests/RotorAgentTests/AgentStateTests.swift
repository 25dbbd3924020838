import Foundation
import RotorAgent
import Testing

/// The state file round-trips and is private.
@Suite struct AgentStateTests {
    @Test("what is saved is what is loaded, in a 0600 file shaped {credential_id: {version, status, fingerprint, applied_at}}")
    func roundTrip() throws {
        let directory = try AtomicFileTests.directory()
        let path = directory + "/state.json"
        let at = Date(timeIntervalSince1970: 1_760_000_000)
        let state = AgentState(entries: [
            "cred_0000000000000000000000000a": .init(version: 3, status: "pending", fingerprint: "sha256:ab", appliedAt: at, outcome: "applied"),
            "cred_0000000000000000000000000b": .init(version: 1, status: "current", fingerprint: "sha256:cd", appliedAt: at, outcome: nil),
        ])
        try state.save(path)
        #expect(try AgentState.load(path) == state)
        #expect(try AtomicFileTests.mode(path) == 0o600)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: [String: Any]])
        let entry = try #require(json["cred_0000000000000000000000000a"])
        #expect(entry["version"] as? Int == 3)
        #expect(entry["status"] as? String == "pending")
        #expect(entry["applied_at"] as? String == "2025-10-09T08:53:20Z")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["state.json"])
    }

    @Test("no file is an empty state; a corrupt one is an error, not a crash")
    func missingAndCorrupt() throws {
        let directory = try AtomicFileTests.directory()
        #expect(try AgentState.load(directory + "/none.json") == AgentState())
        try "{\"cred_x\": {\"version\": \"three\"}}".write(toFile: directory + "/bad.json", atomically: false, encoding: .utf8)
        let error = #expect(throws: AgentState.ReadError.self) { try AgentState.load(directory + "/bad.json") }
        #expect(error?.description.contains("bad.json") == true)
    }
}
