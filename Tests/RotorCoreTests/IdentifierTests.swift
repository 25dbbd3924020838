import Foundation
import RotorCore
import Testing

@Suite struct IdentifierTests {
    @Test("generated ids carry their prefix, 26 base-32 characters, and do not repeat")
    func generate() {
        let ids = (0..<1000).map { _ in CredentialID.generate() }
        #expect(Set(ids).count == 1000)
        for id in ids.prefix(20) {
            #expect(id.rawValue.wholeMatch(of: /cred_[0-9abcdefghjkmnpqrstvwxyz]{26}/) != nil)
            #expect(CredentialID(id.rawValue) == id)
        }
        #expect(JobID.generate().rawValue.hasPrefix("job_"))
    }

    @Test("parsing rejects other prefixes and foreign characters", arguments: [
        "", "cred_", "job_0123456789abcdefghjkmnpqrs", "cred_ABC", "cred_x/y", "cred_il", "CRED_abc", String(repeating: "a", count: 70),
    ])
    func rejects(text: String) {
        #expect(CredentialID(text) == nil)
    }

    @Test("ids are JSON strings; a wrong prefix is a decoding error")
    func codable() throws {
        let id = JobID.generate()
        let encoded = try JSONEncoder().encode([id])
        #expect(String(decoding: encoded, as: UTF8.self) == "[\"\(id.rawValue)\"]")
        #expect(try JSONDecoder().decode([JobID].self, from: encoded) == [id])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([JobID].self, from: Data(#"["cred_abc"]"#.utf8)) }
    }
}

@Suite struct SecretTests {
    @Test("a secret never shows itself in descriptions, interpolation, dumps or mirrors")
    func redaction() {
        let secret = Secret("VULTRKEY0123456789ABCDEFGHIJKLMNOPQR")
        struct Holder { var name = "x"; var secret: Secret }
        let holder = Holder(secret: secret)
        var dumped = ""
        dump(holder, to: &dumped)
        for text in ["\(secret)", String(describing: secret), String(reflecting: secret), "\(holder)", dumped] {
            #expect(!text.contains("VULTRKEY"), "\(text)")
        }
        #expect("\(secret)" == "[REDACTED]")
        #expect(secret.reveal() == "VULTRKEY0123456789ABCDEFGHIJKLMNOPQR")
        #expect(secret.suffix(5) == "MNOPQR".suffix(5))
    }
}

@Suite struct CredentialNameTests {
    @Test("names are 1–64 of [A-Za-z0-9._-]", arguments: [("prod-vultr.main_1", true), ("", false), ("a b", false), ("ü", false), (String(repeating: "a", count: 64), true), (String(repeating: "a", count: 65), false)])
    func names(name: String, valid: Bool) {
        #expect(Credential.isValidName(name) == valid)
    }
}
