import ArgumentParser

/// `rotor-bench`: the benchmarks behind `scripts/bench-*.sh`, kept out of the product binary.
@main
struct RotorBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotor-bench",
        abstract: "Rotor's benchmarks (run them through scripts/bench-*.sh).",
        subcommands: [BenchCommand.self, BenchPollCommand.self, BenchWaitsCommand.self, BenchAgentsCommand.self]
    )
}
