import ArgumentParser
import ReflexCore
import ReflexDeployment

/// `reflex eval-merge`: the shards of one `reflex eval --shard` run, combined into what the unsharded run writes.
struct EvalMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-merge",
        abstract: "Merge the shard files of `reflex eval --shard I/N` into the results JSON, summary and plot of the whole run.",
        discussion: """
        The output equals the single-process run's byte for byte apart from the timing fields (latency_*_micros and
        inference_micros). Refuses shards of different runs (policy, its weights, robot, task, sampler, steering,
        seed, episodes, action steps), missing or duplicated shards, and shards whose episodes are not theirs.
        Example: reflex eval-merge eval-lift-ddpm.shard-*-of-4.json --out eval-lift-ddpm.json
        """)

    @Argument(help: "Shard files (all N of them).") var shards: [String]
    @Option(help: "Results JSON path (default: reflex eval's, eval-<task>-<sampler>.json).") var out: String?
    @Option(help: "Plot path (SVG; default: next to the JSON).") var plot: String?

    func run() throws {
        let results: EvalResults
        do {
            results = try EvalShardFile.merge(paths: shards)
        } catch let e as ReflexError {
            throw ValidationError(e.description)
        }
        print(Eval.summary(results))
        let jsonPath = out ?? EvalResults.defaultPath(task: results.task, sampler: results.sampler)
        try results.write(to: jsonPath)
        let plotPath = plot ?? EvalResults.defaultPlotPath(for: jsonPath)
        try results.successPlot().write(to: plotPath)
        print("merged \(shards.count) shards; wrote \(jsonPath) and \(plotPath)")
    }
}
