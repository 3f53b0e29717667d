import ArgumentParser
import Foundation
import ReflexCore
import ReflexPolicy
import ReflexRL
import ReflexSteering

/// `reflex train-value`: V-GPS's offline value function (IQL or Cal-QL) for re-ranking a frozen policy's candidates.
struct TrainValue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-value",
        abstract: "Learn V-GPS twin critics Q(s, a) offline with IQL or Cal-QL from demonstrations and base-policy rollouts.",
        discussion: """
        States and actions are the policy's: its normalized observation history (a camera policy's followed by its
        encoders' features of the frame recorded at that step) and the executed part of a chunk.
        Rewards are −1 per step and 0 on success (Nakamoto et al. 2024). Rollouts come from
        `reflex eval --record DIR` (a camera policy's with their frames). Use the result with `reflex eval --value OUT --k 10`. The V-GPS paper's
        setting is `--algo cal-ql --gamma 0.98`, ranked with `--selection softmax` (β = 1) at evaluation.
        Cal-QL's conservative term samples its "policy actions" from a SAC actor over whole chunks, trained beside the
        critics only for that (as V-GPS's code does) and not saved; its Monte-Carlo bound is −1/(1 − γ) on failed
        episodes (docs/policies.md).
        """)

    @Option(help: "The diffusion policy the critics will rank candidates for.") var policy: String
    @Option(parsing: .upToNextOption, help: "Demonstration and rollout directories.") var data: [String]
    @Option(help: "Output directory (value.yaml + value.safetensors).") var out: String
    @Option(name: .customLong("algo"), help: "Offline learner: iql or cal-ql.") var algorithm: String = "iql"
    @Option(help: "Updates.") var steps = 20000
    @Option(help: "Minibatch size.") var batchSize = 256
    @Option(help: "Discount per control step (the V-GPS paper's: 0.98).") var gamma: Float = 0.99
    @Option(help: "IQL's expectile τ (default 0.7).") var expectile: Float?
    @Option(help: "Cal-QL's conservative weight α (default 5).") var conservativeWeight: Float?
    @Option(help: "Cal-QL's actions per proposal and for the max backup (default 4, V-GPS's).") var sampledActions: Int?
    @Option(help: "Hidden widths, comma-separated.") var hidden = "256,256"
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(help: "Kernel threads.") var threads = 2

    func run() throws {
        KernelBuild.setThreads(threads)
        var training = ValueTraining()
        guard let algo = ValueAlgorithm(rawValue: algorithm) else {
            throw ValidationError("--algo: '\(algorithm)' is not one of \(ValueAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        (training.algorithm, training.steps, training.batchSize, training.gamma, training.seed) = (algo, steps, batchSize, gamma, seed)
        (training.expectile, training.conservativeWeight, training.sampledActions) = (expectile, conservativeWeight, sampledActions)
        training.hiddenSizes = try hidden.split(separator: ",").map { s -> Int in
            guard let n = Int(s), n > 0 else { throw ValidationError("--hidden: '\(s)' is not a positive integer") }
            return n
        }
        let second = algo == .iql ? "value" : "gap"
        let progress = ProgressLine(total: steps, label: algo.rawValue)
        let outcome = try training.run(policyDirectory: policy, dataDirectories: data, out: out,
                                       notes: ["policy": policy, "data": data.joined(separator: ","),
                                               "trained_with": "reflex train-value --algo \(algo.rawValue) --steps \(steps) --seed \(seed)"]) { i, c, v in
            progress.update(i, status: String(format: "critic %.4f \(second) %.4f", c, v))
        }
        progress.finish(String(format: "critic %.4f \(second) %.4f", outcome.criticLoss, outcome.valueLoss))
        if let rate = outcome.boundRate { print(String(format: "Cal-QL's return bound lifted %.1f%% of the policy proposals in the last update", 100 * rate)) }
        print("\(algo.rawValue) on \(outcome.transitions) chunk transitions from \(outcome.episodes) episodes; state \(outcome.stateSize), action \(outcome.actionSize); wrote \(out)")
    }
}
