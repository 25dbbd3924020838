import Foundation
import RotorAgent
import Testing

/// Reload and check commands: real `/bin/sh` processes.
@Suite(.timeLimit(.minutes(1))) struct CommandRunnerTests {
    @Test("the exit status and the first line of standard error come back; exit 0 is success", arguments: [0, 1, 3])
    func exitStatus(status: Int32) async throws {
        let result = try await CommandRunner.run("echo first >&2; echo second >&2; exit \(status)", environment: [:], timeout: .seconds(10), redacting: [])
        #expect(result.exitStatus == status)
        #expect(result.succeeded == (status == 0))
        #expect(result.firstErrorLine == "first")
        #expect(!result.timedOut)
        #expect(result.summary("check", timeout: .seconds(10)) == "check exited \(status): first")
    }

    @Test("the command sees ROTOR_KEY_FILE and ROTOR_KEY_VERSION, and not the agent's token")
    func environment() async throws {
        // The agent's environment with its token, given rather than set with setenv: setenv is
        // unsafe while other threads of this test process start processes (they copy environ).
        let agent = ProcessInfo.processInfo.environment.merging(["ROTOR_AGENT_TOKEN": "rtr_never_for_children"]) { $1 }
        let result = try await CommandRunner.run(
            #"test "$ROTOR_KEY_FILE" = /run/app/key && test "$ROTOR_KEY_VERSION" = 7 && test -z "${ROTOR_AGENT_TOKEN-}" || { echo "env: $ROTOR_KEY_FILE $ROTOR_KEY_VERSION ${ROTOR_AGENT_TOKEN-unset}" >&2; exit 9; }"#,
            environment: ["ROTOR_KEY_FILE": "/run/app/key", "ROTOR_KEY_VERSION": "7"], timeout: .seconds(10), redacting: [], inherited: agent)
        #expect(result.succeeded, "\(result)")
    }

    @Test("on timeout the whole process group is killed, grandchildren included, soon after the timeout")
    func timeoutKillsGroup() async throws {
        let directory = try AtomicFileTests.directory()
        let started = ContinuousClock.now
        let result = try await CommandRunner.run(
            "sleep 30 & echo $! > \(directory)/child; sleep 30", environment: [:], timeout: .milliseconds(500), redacting: [])
        let elapsed = ContinuousClock.now - started
        #expect(result.timedOut)
        #expect(!result.succeeded)
        #expect(result.summary("check", timeout: .milliseconds(500)) == "check timed out after 0.5s")
        #expect(elapsed < .seconds(10), "took \(elapsed)")
        let child = try #require(Int32(try String(contentsOfFile: directory + "/child", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // Gone, or a zombie nobody reaped yet (its state Z): not sleeping on.
        try await Task.sleep(for: .milliseconds(200))
        let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8)
        let state = stat.flatMap { $0.split(separator: ")").last?.split(separator: " ").first }
        #expect(stat == nil || state == "Z", "the grandchild \(child) still runs: \(stat ?? "")")
    }

    @Test("the key never comes back through the output: standard output is discarded, the key is redacted from standard error")
    func outputDoesNotLeak() async throws {
        let key = "VULTRKEY1234567890ABCDEFGHIJ"
        let result = try await CommandRunner.run(
            "echo \"stdout $KEY\"; echo \"bad key $KEY rejected\" >&2; exit 1", environment: ["KEY": key], timeout: .seconds(10), redacting: [key])
        #expect(result.exitStatus == 1)
        #expect(!result.firstErrorLine.contains(key))
        #expect(!result.firstErrorLine.contains("VULTRKEY"))
        #expect(result.firstErrorLine == "bad key [REDACTED] rejected")
    }

    @Test("a long first line is cut to about 200 characters, with no control characters and no key left in part")
    func truncation() async throws {
        let key = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
        // The key begins at column 190, so a plain cut at 200 would leave its first 9 characters.
        let result = try await CommandRunner.run(
            "printf '%s\\033[31m%s tail\\n' \"$(printf 'x%.0s' $(seq 1 189))\" \"$KEY\" >&2; exit 2", environment: ["KEY": key], timeout: .seconds(10),
            redacting: [key])
        #expect(result.firstErrorLine.count <= 200)
        #expect(!result.firstErrorLine.contains("ABCDEFGH"), "\(result.firstErrorLine)")
        #expect(!result.firstErrorLine.unicodeScalars.contains { $0.value < 0x20 })
    }
}
