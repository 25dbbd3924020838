import Foundation
import NIOCore
import NIOHTTP1
@testable import RotorAPI
import RotorCore
import RotorHTTP
import Testing

/// `GET /v1/jobs/{id}` reuses a job's encoded answer while the job read from the store is unchanged.
@Suite struct JobAnswersTests {
    @Test("an unchanged job's answer is the one encoded before, byte for byte and buffer for buffer; any change is encoded afresh")
    func reusedUntilChanged() throws {
        let answers = JobAnswers()
        for job in JobResourceJSONTests.jobs() {
            let first = answers.response(for: job)
            #expect(first.status == .ok)
            #expect(first.headers["Content-Type"] == ["application/json"])
            #expect(Array(buffer: first.body) == Array(buffer: JobResource(job: job).json()))
            let again = answers.response(for: job)
            #expect(Self.address(of: again.body) == Self.address(of: first.body), "the second answer was encoded again")

            var moved = job
            moved.reason = (job.reason ?? "") + " again"
            let afresh = answers.response(for: moved)
            #expect(Array(buffer: afresh.body) == Array(buffer: JobResource(job: moved).json()))
            #expect(Array(buffer: afresh.body) != Array(buffer: first.body))
            // And back: what is reused is always the latest job's answer.
            #expect(Array(buffer: answers.response(for: job).body) == Array(buffer: first.body))
        }
    }

    @Test("at most the capacity's worth of answers is kept")
    func bounded() {
        let answers = JobAnswers()
        let job = JobResourceJSONTests.jobs()[0]
        for _ in 0..<(JobAnswers.capacity + 10) {
            var other = job
            other.id = .generate()
            _ = answers.response(for: other)
            #expect(answers.count <= JobAnswers.capacity)
        }
        #expect(answers.count >= 1)
    }

    private static func address(of buffer: ByteBuffer) -> UInt? {
        buffer.withUnsafeReadableBytes { $0.baseAddress.map { UInt(bitPattern: $0) } }
    }
}
