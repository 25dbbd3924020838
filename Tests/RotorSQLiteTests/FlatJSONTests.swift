import Foundation
import RotorCore
import RotorStorage
import Testing

/// ``FlatJSON`` reads the job's nested columns in place of `JSONDecoder`: it must read back exactly
/// what `JSONDecoder` reads from the text the store writes, and refuse what it does not handle.
@Suite struct FlatJSONTests {
    /// What the store writes: `JSONEncoder` with sorted keys (``RowCoding/json(_:)``).
    private func stored(_ value: some Encodable) throws -> String { try RowCoding.json(value) }

    private func decoded<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }

    /// Texts JSON must escape, and some it need not.
    static let awkward = [
        "", "plain", "quote \" and backslash \\", "slash / and </script>", "tab\tnewline\nreturn\r", "nul \u{0} bell \u{7} esc \u{1B}",
        "\u{7F} delete", "é, ß, 日本語", "emoji 🔑 outside the BMP 𝄞", "\u{2028}\u{2029} separators", "\\u0041 not an escape",
    ]

    @Test func keyInfoReadsAsJSONDecoderReadsIt() throws {
        var generator = SystemRandomNumberGenerator()
        for text in Self.awkward {
            for _ in 0..<20 {
                let created = Date(timeIntervalSinceReferenceDate: Double.random(in: -1e9...2e9, using: &generator))
                let expires: Date? = Bool.random(using: &generator) ? created.addingTimeInterval(.random(in: 0...1e8, using: &generator)) : nil
                let key = KeyInfo(providerKeyID: "key-" + text, fingerprint: "sha256:" + text, createdAt: created, expiresAt: expires)
                let json = try self.stored(key)
                let fast = try RowCoding.keyInfo(FlatJSON.object(json))
                #expect(fast == (try self.decoded(KeyInfo.self, json)))
                #expect(fast == key)
            }
        }
    }

    @Test func jobRecordsReadAsJSONDecoderReadsThem() throws {
        for text in Self.awkward {
            for kind in [Trigger.Kind.api, .webhook, .schedule, .leak] {
                for source in [nil, text] {
                    let json = try self.stored(Trigger(kind: kind, source: source))
                    #expect(try RowCoding.trigger(FlatJSON.object(json)) == (try self.decoded(Trigger.self, json)))
                }
            }
            let error = JobError(code: "target_failed", message: text, step: .verify)
            let errorJSON = try self.stored(error)
            #expect(try RowCoding.jobError(FlatJSON.object(errorJSON)) == error)
            #expect(try RowCoding.jobError(FlatJSON.object(errorJSON)) == (try self.decoded(JobError.self, errorJSON)))
        }
        let targets = [
            JobTarget(targetID: TargetID.generate()),
            JobTarget(targetID: TargetID.generate(), state: .failed, attempts: 7, lastError: Self.awkward.joined(separator: "|")),
            JobTarget(targetID: TargetID.generate(), state: .rolledBack, attempts: 1),
            JobTarget(targetID: TargetID.generate(), state: .delivered, attempts: 2, verifyDeadline: Date(timeIntervalSinceReferenceDate: 812_345_678.125)),
        ]
        for count in 0...targets.count {
            let json = try self.stored(Array(targets.prefix(count)))
            let fast = try FlatJSON.objects(json).map(RowCoding.jobTarget)
            #expect(fast == (try self.decoded([JobTarget].self, json)))
            #expect(fast == Array(targets.prefix(count)))
        }
    }

    /// Escapes `JSONEncoder` never writes but JSON allows, and space between tokens.
    @Test func readsEveryEscapeAndSpace() throws {
        let json = #" { "code" : "a\u00e9\ud83d\udd11\/\b\f" , "message":"x\"y" ,"step":"grace" } "#
        let fast = try RowCoding.jobError(FlatJSON.object(json))
        #expect(fast == (try self.decoded(JobError.self, json)))
        #expect(fast.code == "aé🔑/\u{8}\u{C}")
    }

    @Test func refusesWhatItDoesNotHandle() throws {
        let refused = [
            "", "{", "{}x", #"{"a":{"nested":1}}"#, #"{"a":[1]}"#, #"{"a":"unterminated}"#, #"{"a":"\x"}"#,
            #"{"a":"\ud800"}"#, #"{"a":"\udc00"}"#, "{\"a\":\"raw\ncontrol\"}", #"{"a":tru}"#, "[{}", #"{"a" 1}"#, "null",
        ]
        for text in refused {
            #expect(throws: FlatJSON.Mismatch.self, "\(text)") { try FlatJSON.object(text) }
        }
        #expect(throws: FlatJSON.Mismatch.self) { try FlatJSON.objects(#"[{"a":1},]"#) }
        // A member of the wrong type, or a value the domain has no case for.
        #expect(throws: (any Error).self) { try RowCoding.trigger(FlatJSON.object(#"{"kind":"mystery"}"#)) }
        #expect(throws: (any Error).self) { try RowCoding.keyInfo(FlatJSON.object(#"{"provider_key_id":1,"fingerprint":"f","created_at":0}"#)) }
        #expect(throws: (any Error).self) { try RowCoding.jobTarget(FlatJSON.object(#"{"target_id":"not-an-id","state":"pending","attempts":0}"#)) }
        // A member the reader does not know is not dropped: the record is left to JSONDecoder.
        let id = TargetID.generate().rawValue
        #expect(throws: FlatJSON.Mismatch.self) {
            try RowCoding.jobTarget(FlatJSON.object(#"{"attempts":0,"state":"pending","target_id":"\#(id)","added_later":1}"#))
        }
    }
}
