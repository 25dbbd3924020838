import Foundation
import NIOCore
@testable import RotorAPI
import RotorCore
import RotorHTTP
import Testing

/// `GET /v1/jobs/{id}` writes its JSON by hand (`JobResource.json()`); it must say exactly what
/// the `Encodable` conformance says through the shared encoder, for every kind of job.
@Suite struct JobResourceJSONTests {
    /// Strings a job carries that JSON must escape, or that are not ASCII.
    static let awkward = ["plain", "quote \" and backslash \\", "new\nline\ttab\r", "control \u{01}\u{1F}\u{7F}", "slash / and unicode é ✓ 🔑", ""]

    static func jobs() -> [Job] {
        let t0 = Date(timeIntervalSince1970: 1_764_684_935.987_654)
        var jobs: [Job] = []
        for (index, text) in Self.awkward.enumerated() {
            for state in JobState.allCases {
                let step = JobStep.allCases[(index + jobs.count) % JobStep.allCases.count]
                let odd = (index + jobs.count) % 2 == 1
                jobs.append(
                    Job(
                        restoring: .generate(), credentialID: .generate(), state: state, step: step,
                        trigger: Trigger(kind: odd ? .webhook : .api, source: odd ? text : nil),
                        reason: odd ? nil : text, dryRun: odd, gracePeriod: odd ? .zero : ISODuration(seconds: 90_061),
                        graceEndsAt: odd ? t0.addingTimeInterval(59.999) : nil, attempt: index, nextAttemptAt: odd ? nil : t0.addingTimeInterval(0.5),
                        createAttemptBegunAt: nil, cancelRequested: false, createdAt: t0, startedAt: odd ? t0.addingTimeInterval(1) : nil,
                        updatedAt: t0.addingTimeInterval(86_400 * 400), finishedAt: state.isTerminal ? t0.addingTimeInterval(3.25) : nil,
                        newKey: odd ? KeyInfo(providerKeyID: "new-\(text)", fingerprint: "sha256:0123456789ab", createdAt: t0) : nil,
                        oldKey: KeyInfo(providerKeyID: "old-\(index)", fingerprint: "sha256:ba9876543210", createdAt: t0),
                        targets: (0..<(index % 3)).map { n in
                            JobTarget(
                                targetID: .generate(), state: n == 0 ? .failed : .verified, attempts: n, lastError: n == 0 ? text : nil,
                                verifyDeadline: n == 1 ? t0.addingTimeInterval(300) : nil)
                        },
                        error: state == .failed ? JobError(code: "target_failed", message: text, step: step) : nil,
                        revision: 1
                    ))
            }
        }
        return jobs
    }

    /// The text with its members sorted, so two writers' member orders do not matter.
    static func canonical(_ bytes: [UInt8]) throws -> Data {
        try JSONSerialization.data(withJSONObject: try JSONSerialization.jsonObject(with: Data(bytes)), options: [.sortedKeys])
    }

    @Test("the hand-written JSON of a job equals what JSONEncoder writes, member for member")
    func sameAsEncoder() throws {
        let jobs = Self.jobs()
        #expect(jobs.count == Self.awkward.count * JobState.allCases.count)
        for job in jobs {
            let resource = JobResource(job: job)
            let written = Array(buffer: resource.json())
            let encoded = Array(try JSONCoding.encoder.encode(resource))
            #expect(try Self.canonical(written) == Self.canonical(encoded), "\(String(decoding: written, as: UTF8.self))")
        }
    }

    @Test("a page of jobs (GET /v1/jobs) is what JSONEncoder writes for its ListResponse, with a cursor, without, and empty")
    func pageSameAsEncoder() throws {
        let jobs = Self.jobs()
        let answers = JobAnswers()
        let pages: [([Job], String?)] = [(jobs, "MTc2NDY4NDkzNS4wMDA/am9i+Xz/E="), (Array(jobs.prefix(1)), nil), ([], nil)]
        for (items, cursor) in pages {
            let written = Array(buffer: answers.listResponse(items, nextCursor: cursor).body)
            let encoded = Array(try JSONCoding.encoder.encode(ListResponse(data: items.map(JobResource.init), nextCursor: cursor)))
            #expect(try Self.canonical(written) == Self.canonical(encoded), "\(String(decoding: written, as: UTF8.self))")
        }
        // Written again from the kept encodings, the page is the same.
        #expect(answers.listResponse(jobs, nextCursor: nil).body == answers.listResponse(jobs, nextCursor: nil).body)
    }

    @Test("dates are written to the second in UTC, as the encoder's ISO 8601")
    func dates() {
        var writer = JSONWriter()
        writer.beginArray()
        writer.date(Date(timeIntervalSince1970: 0))
        writer.date(Date(timeIntervalSince1970: 1_764_684_935.999))
        writer.date(Date(timeIntervalSince1970: 951_782_400))  // a leap day
        writer.date(nil)
        writer.endArray()
        #expect(String(buffer: writer.buffer) == #"["1970-01-01T00:00:00Z","2025-12-02T14:15:35Z","2000-02-29T00:00:00Z",null]"#)
    }
}
