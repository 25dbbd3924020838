import ChildProcess
import FakeVultr
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorHTTP
import Synchronization
import Testing

/// Issue 12, item 2, against the real binary: the outbound policy is applied to the address a
/// name resolves to, when connecting, and transport errors say only their class.
@Suite(.timeLimit(.minutes(2))) struct OutboundPolicyProcessTests {
    /// A name the system resolver answers with a loopback address and that no URL rule can see
    /// through: this machine's own host name (its /etc/hosts entry).
    static func loopbackName() throws -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        try #require(gethostname(&buffer, buffer.count) == 0)
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var hints = addrinfo()
        hints.ai_family = AF_INET
        var list: UnsafeMutablePointer<addrinfo>?
        try #require(getaddrinfo(name, nil, &hints, &list) == 0, "this machine's name \(name) does not resolve")
        defer { freeaddrinfo(list) }
        let address = try #require(list?.pointee.ai_addr).withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
        try #require(address >> 24 == 127, "this machine's name \(name) resolves to a non-loopback address")
        return name
    }

    @Test("a target named by a host that resolves to loopback gets nothing; a closed allowed port reads 'could not connect'")
    func deniedAtConnectTime() async throws {
        let name = try Self.loopbackName()
        let hits = Atomic<Int>(0)
        let router = Router()
        router.post("/hook") { _ in
            hits.add(1, ordering: .relaxed)
            return Response(status: .noContent)
        }
        try await HTTPServer.withRunningServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0), responder: router.buildResponder(), logger: Logger(label: "receiver")
        ) { receiver in
            let fake = FakeVultr(configuration: .init(rateLimitPerSecond: nil))
            try await fake.run { vultrURL in
                let dataDirectory = NSTemporaryDirectory() + "rotor-outbound-\(UUID().uuidString)"
                defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
                let rotor = try RotorProcessTests.RunningRotor(
                    arguments: ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDirectory],
                    environment: [
                        "ROTOR_ADMIN_TOKEN": ServeConfigurationTests.token,
                        "ROTOR_MASTER_KEY": ServeConfigurationTests.masterKey,
                        "ROTOR_VULTR_BASE_URL": vultrURL,
                        "ROTOR_RETRY_BASE": "PT0.05S",
                        "ROTOR_STEP_ATTEMPTS": "2",
                        // Only 127.0.0.2: the receiver (127.0.0.1) stays denied.
                        "ROTOR_OUTBOUND_ALLOW": "127.0.0.2",
                    ])
                defer { if rotor.process.isRunning { rotor.process.terminate() } }
                let port = try await rotor.port()
                let admin = { (method: HTTPMethod, path: String, body: String?) in
                    try await RotorProcessTests.api(port: port, token: ServeConfigurationTests.token, method, path, body)
                }
                let receiverPort = receiver.port ?? 0

                // Written as an address, the receiver is refused when the credential is created.
                let (literal, problem) = try await admin(
                    .POST, "/v1/credentials",
                    #"{"name":"literal","provider":"vultr","secret":"\#(fake.addUser().1)","targets":[{"type":"webhook","url":"http://127.0.0.1:\#(receiverPort)/hook"}]}"#)
                #expect(literal == .unprocessableEntity, "\(problem)")
                #expect("\(problem)".contains("loopback, private"))

                // Written as a name, it passes every rule that reads the URL; the key must still
                // not reach it.
                for (label, url, expected) in [
                    ("named", "https://\(name):\(receiverPort)/hook", "the host is a loopback, private, link-local or metadata address (ROTOR_OUTBOUND_ALLOW can allow it)"),
                    ("closed", "http://127.0.0.2:1/hook", "no answer (could not connect)"),
                ] {
                    let (_, oldKey) = fake.addUser()
                    let (created, credential) = try await admin(
                        .POST, "/v1/credentials",
                        #"{"name":"\#(label)","provider":"vultr","secret":"\#(oldKey)","targets":[{"type":"webhook","url":"\#(url)"}]}"#)
                    #expect(created == .created, "\(label): \(credential)")
                    let credentialID = try #require(credential["id"] as? String)
                    let (_, job) = try await admin(.POST, "/v1/jobs", #"{"credential_id":"\#(credentialID)"}"#)
                    let jobID = try #require(job["id"] as? String, "\(job)")
                    let (_, finished) = try await admin(.GET, "/v1/jobs/\(jobID)?wait=PT30S", nil)
                    #expect(finished["state"] as? String != "succeeded", "\(label): \(finished)")
                    let (_, deliveries) = try await admin(.GET, "/v1/jobs/\(jobID)/deliveries", nil)
                    let attempts = try #require(deliveries["data"] as? [[String: Any]])
                    let pending = attempts.filter { $0["event_type"] as? String == "key.pending" }
                    #expect(!pending.isEmpty, "\(label): \(attempts)")
                    for attempt in pending { #expect(attempt["error"] as? String == expected, "\(label): \(attempt)") }
                    let (_, events) = try await admin(.GET, "/v1/jobs/\(jobID)/events", nil)
                    for text in ["\(deliveries)", "\(events)", "\(finished)"] {
                        #expect(!text.contains("errno") && !text.lowercased().contains("connection refused"), "\(label): \(text)")
                    }
                    // Rolled back: the old key is current and the new one is gone from the provider.
                    let (_, current) = try await admin(.GET, "/v1/credentials/\(credentialID)", nil)
                    #expect(current["version"] as? Int == 1, "\(label): \(current)")
                }
                #expect(hits.load(ordering: .relaxed) == 0)
            }
        }
    }
}
