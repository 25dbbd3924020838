import RotorHTTP
import Testing

/// ``LogRedaction/isSensitiveMetadataKey(_:)``: which metadata values log handlers redact.
@Suite struct LogRedactionTests {
    /// The rule as its documentation states it, written the slow, obvious way.
    private func reference(_ key: String) -> Bool {
        let words = key.lowercased().split(whereSeparator: { $0 == "." || $0 == "_" || $0 == "-" })
        guard let last = words.last, last != "id", last != "ids" else { return false }
        let sensitive: Set<Substring> = ["authorization", "secret", "secrets", "password", "token", "signature", "cookie", "apikey", "key"]
        return words.contains { sensitive.contains($0) }
    }

    @Test(
        "keys naming credentials are sensitive, ids and ordinary keys are not",
        arguments: [
            ("authorization", true), ("http.Authorization", true), ("signing_secret", true), ("admin-token", true),
            ("api_key", true), ("APIKEY", true), ("Password", true), ("webhook.signature", true), ("set.cookie", true),
            ("secrets", true), ("key", true), ("x..token..", true),
            ("token_id", false), ("provider_key_id", false), ("secret_ids", false), ("KEY.ID", false),
            ("request_id", false), ("http.status", false), ("http.duration_us", false), ("keyring", false),
            ("tokens", false), ("", false), ("...", false), ("monkey", false), ("passwords", false),
        ])
    func classification(key: String, sensitive: Bool) {
        #expect(LogRedaction.isSensitiveMetadataKey(key) == sensitive)
        #expect(self.reference(key) == sensitive, "the test's table disagrees with the documented rule")
    }

    @Test("every key built from words and separators is classified as the documented rule says")
    func agreesWithTheRule() {
        let words = ["", "id", "ids", "ID", "key", "Key", "token", "TOKEN", "secret", "secrets", "apikey", "http", "status", "é", "keys", "x"]
        let separators = [".", "_", "-", "..", ""]
        var checked = 0
        for first in words {
            for separator in separators {
                for second in words {
                    for last in ["", "_id", ".key", "-ids", "_status"] {
                        let key = first + separator + second + last
                        #expect(LogRedaction.isSensitiveMetadataKey(key) == self.reference(key), "\(key)")
                        checked += 1
                    }
                }
            }
        }
        #expect(checked == words.count * separators.count * words.count * 5)
    }
}
