import RotorHTTP
import Testing

/// ``RequestAttributes``: typed values by key, whichever order they are set and cleared in.
@Suite struct RequestAttributesTests {
    enum A: RequestAttributeKey { typealias Value = Int }
    enum B: RequestAttributeKey { typealias Value = String }
    enum C: RequestAttributeKey { typealias Value = [Int] }

    /// One step: set (or clear, with nil) one key.
    enum Step: Sendable, CustomStringConvertible {
        case a(Int?), b(String?), c([Int]?)
        var description: String {
            switch self {
            case .a(let v): "a=\(v.map(String.init) ?? "nil")"
            case .b(let v): "b=\(v ?? "nil")"
            case .c(let v): "c=\(v.map { "\($0)" } ?? "nil")"
            }
        }
    }

    @Test("every sequence of five sets and clears over three keys reads back like a dictionary")
    func behavesLikeADictionary() {
        let steps: [Step] = [.a(1), .b("x"), .c([1]), .a(nil), .b(nil), .c(nil), .a(2), .b("y")]
        var sequences = [[Step]()]
        for _ in 0..<5 { sequences = sequences.flatMap { sequence in steps.map { sequence + [$0] } } }
        var failures: [String] = []
        for sequence in sequences {
            var attributes = RequestAttributes()
            var model: (a: Int?, b: String?, c: [Int]?) = (nil, nil, nil)
            for (index, step) in sequence.enumerated() {
                switch step {
                case .a(let v): attributes[A.self] = v; model.a = v
                case .b(let v): attributes[B.self] = v; model.b = v
                case .c(let v): attributes[C.self] = v; model.c = v
                }
                if attributes[A.self] != model.a || attributes[B.self] != model.b || attributes[C.self] != model.c {
                    failures.append("\(sequence.prefix(index + 1))")
                    break
                }
            }
        }
        #expect(sequences.count == 32768)
        #expect(failures.isEmpty, "first: \(failures.first ?? "")")
    }
}
