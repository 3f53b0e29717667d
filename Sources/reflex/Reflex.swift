import ArgumentParser

@main
struct Reflex: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reflex",
        abstract: "An embeddable control-policy runtime for robot arms.",
        subcommands: [Inspect.self, Convert.self, Bench.self, Collect.self]
    )
}
