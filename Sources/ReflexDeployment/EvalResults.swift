import Foundation
import ReflexCore
import ReflexRuntime

/// What an evaluation run writes (`reflex eval --out FILE`): what was evaluated and the report.
public struct EvalResults: Codable, Sendable {
    public var policy: String
    public var robot: String
    public var task: String
    public var sampler: String
    public var seed: UInt64
    public var actionSteps: Int?
    /// Inference delay in control steps and the execution strategy (`reflex eval --delay --execution`).
    public var delay: Int
    public var execution: String
    public var report: EvaluationReport

    public init(policy: String, robot: String, task: String, sampler: String, seed: UInt64, actionSteps: Int?,
                report: EvaluationReport, delay: Int = 0, execution: String = "sync") {
        self.policy = policy
        self.robot = robot
        self.task = task
        self.sampler = sampler
        self.seed = seed
        self.actionSteps = actionSteps
        self.delay = delay
        self.execution = execution
        self.report = report
    }

    /// The file's JSON: snake_case keys, sorted, pretty-printed.
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return Array(try encoder.encode(self))
    }

    /// Writes the file atomically.
    public func write(to path: String) throws {
        try writeFileAtomically(try encoded(), to: path)
    }
}

extension EvaluationReport {
    /// The running success rate over episodes with its Wilson band.
    public func successPlot(title: String) -> LinePlot {
        let r = self
        var points: [(x: Double, y: Double)] = [], band: [(low: Double, high: Double)] = []
        var ok = 0
        for (i, e) in r.episodeResults.enumerated() {
            if e.success { ok += 1 }
            let w = Statistics.wilsonInterval(successes: ok, trials: i + 1)
            points.append((Double(i + 1), Double(ok) / Double(i + 1)))
            band.append((w.low, w.high))
        }
        var plot = LinePlot(title: title, xLabel: "episodes", yLabel: "success rate (95% Wilson band)")
        plot.series = [.init(name: "success rate", points: points, band: band)]
        return plot
    }
}
