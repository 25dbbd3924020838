import Foundation
import RotorCrypto
import Testing

@Suite struct WebhookSignaturesTests {
    // The Standard Webhooks reference vector (standardwebhooks.com / svix), cross-checked with
    // Python's hmac module.
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let timestamp = 1_614_265_330
    static let payload = Array(#"{"test": 2432232314}"#.utf8)
    static let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    static let now = Date(timeIntervalSince1970: TimeInterval(timestamp))

    @Test("signing reproduces the Standard Webhooks reference signature")
    func referenceSignature() throws {
        let secret = try WebhookSecret(encoded: Self.secret)
        #expect(StandardWebhooks.sign(id: Self.id, timestamp: Self.timestamp, body: Self.payload, secret: secret) == Self.expected)
    }

    @Test("the reference delivery verifies, also among several signatures and secrets")
    func verifies() throws {
        let secret = try WebhookSecret(encoded: Self.secret)
        let other = WebhookSecret.generate()
        try StandardWebhooks.verify(id: Self.id, timestamp: String(Self.timestamp), signatureHeader: Self.expected, body: Self.payload, secrets: [secret], now: Self.now)
        try StandardWebhooks.verify(
            id: Self.id, timestamp: String(Self.timestamp), signatureHeader: "v1,Zm9vYmFy v2,abc \(Self.expected)", body: Self.payload,
            secrets: [other, secret], now: Self.now
        )
    }

    @Test("a changed body, id, timestamp or secret fails", arguments: 0..<4)
    func tampering(variant: Int) throws {
        let secret = try WebhookSecret(encoded: Self.secret)
        var body = Self.payload
        var id = Self.id
        var timestamp = String(Self.timestamp)
        var secrets = [secret]
        switch variant {
        case 0: body[3] ^= 1
        case 1: id += "x"
        case 2: timestamp = String(Self.timestamp + 1)
        default: secrets = [WebhookSecret.generate()]
        }
        #expect(throws: StandardWebhooks.Failure.invalidSignature) {
            try StandardWebhooks.verify(id: id, timestamp: timestamp, signatureHeader: Self.expected, body: body, secrets: secrets, now: Self.now)
        }
    }

    @Test("timestamps outside five minutes either way are refused; inside is fine")
    func tolerance() throws {
        let secret = try WebhookSecret(encoded: Self.secret)
        func check(_ offset: TimeInterval) throws(StandardWebhooks.Failure) {
            try StandardWebhooks.verify(
                id: Self.id, timestamp: String(Self.timestamp), signatureHeader: Self.expected, body: Self.payload, secrets: [secret],
                now: Self.now.addingTimeInterval(offset)
            )
        }
        try check(299)
        try check(-299)
        #expect(throws: StandardWebhooks.Failure.staleTimestamp) { try check(301) }
        #expect(throws: StandardWebhooks.Failure.futureTimestamp) { try check(-301) }
    }

    @Test("missing or malformed headers are malformed", arguments: [("", "1614265330", expected), (id, "soon", expected), (id, "1614265330", ""), (id, "1614265330", "v1")])
    func malformed(id: String, timestamp: String, header: String) throws {
        let secret = try WebhookSecret(encoded: Self.secret)
        #expect(throws: StandardWebhooks.Failure.malformed) {
            try StandardWebhooks.verify(id: id, timestamp: timestamp, signatureHeader: header, body: Self.payload, secrets: [secret], now: Self.now)
        }
    }

    @Test("secrets: whsec_ form round-trips, bad ones are refused, descriptions hide the key")
    func secrets() throws {
        let generated = WebhookSecret.generate()
        #expect(try WebhookSecret(encoded: generated.encoded) == generated)
        #expect(generated.encoded.hasPrefix("whsec_"))
        #expect(!"\(generated)".contains(generated.encoded.dropFirst(6)))
        for bad in ["whsec_", "whsec_!!!", "whsec_" + Data(repeating: 1, count: 8).base64EncodedString()] {
            #expect(throws: CryptoError.self) { try WebhookSecret(encoded: bad) }
        }
    }

    // GitHub's documented example: secret "It's a Secret to Everybody", payload "Hello, World!".
    @Test("GitHub's documented X-Hub-Signature-256 example signs and verifies; a changed byte does not")
    func github() {
        let secret = WebhookSecret(keyBytes: Array("It's a Secret to Everybody".utf8))
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        #expect(GitHubWebhookSignature.sign(body: Array("Hello, World!".utf8), secret: secret) == header)
        #expect(GitHubWebhookSignature.isValid(header: header, body: Array("Hello, World!".utf8), secrets: [secret]))
        #expect(GitHubWebhookSignature.isValid(header: header.uppercased().replacingOccurrences(of: "SHA256=", with: "sha256="), body: Array("Hello, World!".utf8), secrets: [secret]))
        #expect(!GitHubWebhookSignature.isValid(header: header, body: Array("Hello, World?".utf8), secrets: [secret]))
        #expect(!GitHubWebhookSignature.isValid(header: "sha1=757107ea", body: Array("Hello, World!".utf8), secrets: [secret]))
        #expect(!GitHubWebhookSignature.isValid(header: "sha256=zz", body: Array("Hello, World!".utf8), secrets: [secret]))
    }

    @Test("fingerprints are sha256: and the first 12 hex digits")
    func fingerprint() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        #expect(SHA256.fingerprint(of: "abc") == "sha256:ba7816bf8f01")
    }
}
