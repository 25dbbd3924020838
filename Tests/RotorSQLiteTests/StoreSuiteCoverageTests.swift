import Foundation
import Testing

/// The store suite's bodies live in RotorStoreConformance, and each driver's target runs them
/// through one `@Test` apiece: this holds both targets to every body, so a new one cannot run on
/// one driver only.
@Suite struct StoreSuiteCoverageTests {
    @Test("every body of the store suite has its @Test in RotorSQLiteTests and in RotorPostgresTests")
    func everyBodyRunsOnBothDrivers() throws {
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let bodies = try Self.bodies(in: tests.appendingPathComponent("RotorStoreConformance"))
        #expect(bodies.count >= 60, "found only \(bodies.count) bodies: has the suite's layout changed?")
        for (target, driver) in [("RotorSQLiteTests", "sqlite"), ("RotorPostgresTests", "postgres")] {
            let wrapped = try Self.wrappers(in: tests.appendingPathComponent(target), driver: driver)
            #expect(bodies.subtracting(wrapped).sorted() == [], "bodies \(target) does not run")
            #expect(wrapped.subtracting(bodies).sorted() == [], "calls in \(target) that name no body")
        }
    }

    /// `Suite.body` for every `package func body(_ kind: StoreKind)` of every suite type.
    private static func bodies(in directory: URL) throws -> Set<String> {
        var found: Set<String> = []
        for (_, text) in try Self.sources(in: directory) {
            guard let suite = text.firstMatch(of: /package struct (\w+)Conformance/)?.1 else { continue }
            for match in text.matches(of: /package func (\w+)\(_ kind: StoreKind\)/) { found.insert("\(suite)Conformance.\(match.1)") }
        }
        return found
    }

    /// `Suite.body` for every `self.suite.body(.driver)` in a file whose `suite` is that type.
    private static func wrappers(in directory: URL, driver: String) throws -> Set<String> {
        var found: Set<String> = []
        for (name, text) in try Self.sources(in: directory) {
            let calls = text.matches(of: /self\.suite\.(\w+)\(\.(\w+)\)/)
            guard !calls.isEmpty else { continue }
            let suite = try #require(text.firstMatch(of: /let suite = (\w+)\(\)/)?.1, "\(name) calls self.suite without declaring it")
            for call in calls {
                #expect(call.2 == driver, "\(name) runs \(call.1) on \(call.2), not \(driver)")
                found.insert("\(suite).\(call.1)")
            }
        }
        return found
    }

    private static func sources(in directory: URL) throws -> [(String, String)] {
        // Not this file: its own comments show the pattern it looks for.
        let this = URL(fileURLWithPath: #filePath).lastPathComponent
        return try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".swift") && $0 != this }.map { name in
            (name, try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8))
        }
    }
}
