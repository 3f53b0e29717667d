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
        let config = try PolicyDirectory.readConfig(policy)
        let sets = try data.map { try Demonstrations.load(directory: $0).demonstrations }
        let transitions = try ValueData.transitions(from: sets, policy: config, gamma: gamma)
        let widths = try hidden.split(separator: ",").map { s -> Int in
            guard let n = Int(s), n > 0 else { throw ValidationError("--hidden: '\(s)' is not a positive integer") }
            return n
        }
        var gen = RandomGenerator(seed: seed)
        let iql = IQL(stateSize: transitions.stateSize, actionSize: transitions.actionSize,
                      config: .init(hiddenSizes: widths, expectile: expectile, batchSize: batchSize), generator: &gen)
        let episodes = sets.reduce(0) { $0 + $1.episodes.count }
        print("IQL on \(transitions.count) chunk transitions from \(episodes) episodes; state \(transitions.stateSize), action \(transitions.actionSize)")
        let progress = ProgressLine(total: steps, label: "iql")
        var critic: Float = 0, valueLoss: Float = 0
        for i in 0 ..< steps {
            let l = iql.update(transitions, generator: &gen)
            critic = 0.98 * critic + 0.02 * l.critic
            valueLoss = 0.98 * valueLoss + 0.02 * l.value
            if i % 200 == 0 { progress.update(i + 1, status: String(format: "critic %.4f value %.4f", critic, valueLoss)) }
        }
        progress.finish(String(format: "critic %.4f value %.4f", critic, valueLoss))
        try ValueFunctionDirectory.save(iql, gamma: gamma, notes: ["policy": policy, "data": data.joined(separator: ","),
                                                                    "trained_with": "reflex train-value --steps \(steps) --seed \(seed)"],
                                        to: out)
        print("wrote \(out)")
    }
}
