import ArgumentParser
import Foundation
import ReflexCore
import ReflexPolicy
import ReflexRL
import ReflexSteering

/// `reflex train-value`: V-GPS's offline value function (IQL) for re-ranking a frozen policy's candidates.
struct TrainValue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-value",
        abstract: "Learn V-GPS twin critics Q(s, a) offline with IQL from demonstrations and base-policy rollouts.",
        discussion: """
        States and actions are the policy's: its normalized observation history and the executed part of a chunk.
        Rewards are −1 per step and 0 on success (Nakamoto et al. 2024). Rollouts come from
        `reflex eval --record DIR`. Use the result with `reflex eval --value OUT --k 10`.
        """)

    @Option(help: "The diffusion policy the critics will rank candidates for.") var policy: String
    @Option(parsing: .upToNextOption, help: "Demonstration and rollout directories.") var data: [String]
    @Option(help: "Output directory (value.yaml + value.safetensors).") var out: String
    @Option(help: "IQL updates.") var steps = 20000
    @Option(help: "Minibatch size.") var batchSize = 256
    @Option(help: "Discount per control step.") var gamma: Float = 0.99
    @Option(help: "IQL expectile τ.") var expectile: Float = 0.7
    @Option(help: "Hidden widths, comma-separated.") var hidden = "256,256"
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(help: "Kernel threads.") var threads = 2

    func run() throws {
        KernelBuild.setThreads(threads)
        var training = ValueTraining()
        (training.steps, training.batchSize, training.gamma, training.expectile, training.seed) = (steps, batchSize, gamma, expectile, seed)
        training.hiddenSizes = try hidden.split(separator: ",").map { s -> Int in
            guard let n = Int(s), n > 0 else { throw ValidationError("--hidden: '\(s)' is not a positive integer") }
            return n
        }
        let progress = ProgressLine(total: steps, label: "iql")
        let outcome = try training.run(policyDirectory: policy, dataDirectories: data, out: out,
                                       notes: ["policy": policy, "data": data.joined(separator: ","),
                                               "trained_with": "reflex train-value --steps \(steps) --seed \(seed)"]) { i, c, v in
            progress.update(i, status: String(format: "critic %.4f value %.4f", c, v))
        }
        progress.finish(String(format: "critic %.4f value %.4f", outcome.criticLoss, outcome.valueLoss))
        print("IQL on \(outcome.transitions) chunk transitions from \(outcome.episodes) episodes; state \(outcome.stateSize), action \(outcome.actionSize); wrote \(out)")
    }
}
