import ReflexCore
import ReflexNN

/// Soft Actor-Critic (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications", Algorithm 1).
///
/// Each update draws one minibatch and takes, in order:
/// - a critic step on both critics (eq. 5, clipped double Q): J_Q(θ_i) = ½ mean_b (Q_θi(s, a) − y)² with
///   y = r + γ (1 − d) (min_i Q̄_i(s′, a′) − α log π(a′|s′)), a′ ~ π(·|s′) from the current actor;
/// - every `policyDelay`-th update, an actor step and a temperature step (`SoftPolicyImprovement`), then Polyak
///   averaging of the target critics with τ.
public final class SAC: OffPolicyLearner, @unchecked Sendable {
    public let config: OffPolicyConfig
    public let observationSize: Int
    public let actionSize: Int
    public let critics: CriticEnsemble
    public let improvement: SoftPolicyImprovement
    public private(set) var updates = 0
    let batch: ReplayBatch
    let nextTape: TanhGaussianPolicy.Tape
    let nextObservationActions: Tensor
    let targetQ: Tensor
    let otherQ: Tensor
    let outputGradient: Tensor
    /// Critic indices, shuffled in place to draw the target's subset (more than two critics).
    var subsetOrder: [Int]
    let actWorkspace: TanhGaussianPolicy.Workspace

    public var policy: TanhGaussianPolicy { improvement.policy }
    public var alpha: Float { improvement.alpha }

    public init(observationSize: Int, actionSize: Int, config: OffPolicyConfig = OffPolicyConfig(),
                generator: inout RandomGenerator) throws {
        try config.validate()
        self.config = config
        self.observationSize = observationSize
        self.actionSize = actionSize
        let policy = TanhGaussianPolicy(observationSize: observationSize, actionSize: actionSize,
                                        hiddenSizes: config.actorHiddenSizes, activation: config.activation,
                                        layerNorm: config.layerNorm, logStdMin: config.logStdMin,
                                        logStdMax: config.logStdMax, generator: &generator)
        critics = CriticEnsemble(inputSize: observationSize + actionSize, outputSize: 1, config: config,
                                 count: config.criticCount, generator: &generator)
        improvement = SoftPolicyImprovement(policy: policy, criticConfig: critics.networks[0].config, config: config,
                                            criticCount: config.criticCount)
        subsetOrder = Array(0 ..< config.criticCount)
        let b = config.batchSize
        batch = ReplayBatch(size: b, observationSize: observationSize, actionSize: actionSize)
        nextTape = TanhGaussianPolicy.Tape(policy: policy, maxBatch: b)
        nextObservationActions = Tensor(zeros: [b, observationSize + actionSize])
        targetQ = Tensor(zeros: [b])
        otherQ = Tensor(zeros: [b])
        outputGradient = Tensor(zeros: [b])
        actWorkspace = TanhGaussianPolicy.Workspace(policy: policy, maxBatch: 16)
    }

    /// - Note: Real-time safe.
    @discardableResult
    public func update(_ buffer: ReplayBuffer, generator: inout RandomGenerator) -> UpdateMetrics {
        var metrics = UpdateMetrics()
        let b = batch.size, o = observationSize, a = actionSize, w = o + a
        buffer.sample(into: batch, generator: &generator)

        // Soft Bellman target y (eq. 3 with the clipped double-Q minimum).
        let alphaNow = improvement.alpha
        policy.sample(batch.nextObservations.data, batch: b, tape: nextTape, generator: &generator)
        for r in 0 ..< b {
            let row = nextObservationActions.data + r * w
            row.update(from: batch.nextObservations.data + r * o, count: o)
            (row + o).update(from: nextTape.actions.data + r * a, count: a)
        }
        // The min over the target critics: both of two, or a fresh random subset of M of N (REDQ, Chen et al. 2021,
        // Algorithm 1 line 7); two critics draw nothing, so runs with them are unchanged.
        let n = critics.count
        if n > 2 {
            for i in 0 ..< config.targetSubset { subsetOrder.swapAt(i, i + generator.index(below: n - i)) }
        }
        critics.targets[subsetOrder[0]].evaluate(nextObservationActions.data, batch: b, output: targetQ.data, workspace: critics.workspace)
        for i in 1 ..< (n > 2 ? config.targetSubset : 2) {
            critics.targets[subsetOrder[i]].evaluate(nextObservationActions.data, batch: b, output: otherQ.data, workspace: critics.workspace)
            for r in 0 ..< b { targetQ.data[r] = min(targetQ.data[r], otherQ.data[r]) }
        }
        var targetSum: Float = 0
        for r in 0 ..< b {
            let next = targetQ.data[r] - alphaNow * nextTape.logProbabilities.data[r]
            targetQ.data[r] = batch.rewards.data[r] + config.gamma * (1 - batch.terminals.data[r]) * next
            targetSum += targetQ.data[r]
        }

        // Critic steps: ∂/∂Q of ½ mean (Q − y)² is (Q − y)/B.
        var loss: Float = 0, meanQ: Float = 0
        let inv = 1 / Float(b)
        for k in 0 ..< critics.count {
            let q = critics.forward(k, batch.observationActions.data, batch: b)
            for r in 0 ..< b {
                let e = q[r] - targetQ.data[r]
                loss += 0.5 * e * e
                outputGradient.data[r] = e * inv
                if k == 0 { meanQ += q[r] }
            }
            critics.step(k, outputGradient: outputGradient.data)
        }
        metrics.criticLoss = loss * inv
        metrics.meanQ = meanQ * inv
        metrics.meanTarget = targetSum * inv

        updates += 1
        if updates % config.policyDelay == 0 {
            improvement.update(batch: batch, critics: critics, metrics: &metrics, generator: &generator)
            critics.updateTargets(tau: config.tau)
        } else {
            metrics.alpha = improvement.alpha
        }
        return metrics
    }

    /// - Note: Real-time safe for batch ≤ 16.
    public func act(_ observations: UnsafePointer<Float>, batch: Int, deterministic: Bool, output: UnsafeMutablePointer<Float>,
                    generator: inout RandomGenerator) {
        policy.act(observations, batch: batch, deterministic: deterministic, output: output, workspace: actWorkspace,
                   generator: &generator)
    }

    public func estimateQ(_ observationActions: UnsafePointer<Float>, batch: Int, output: UnsafeMutablePointer<Float>) {
        estimateEnsembleQ(critics, observationActions, batch: batch, output: output)
    }

    public func namedState() -> [(name: String, tensor: Tensor)] {
        critics.namedState(prefix: "critic.") + improvement.namedState(prefix: "actor.")
    }

    public func metadata() -> [String: String] {
        critics.metadata(prefix: "critic.").merging(improvement.metadata(prefix: "actor.")) { a, _ in a }
            .merging(["learner.updates": String(updates), "learner.algorithm": "sac"]) { a, _ in a }
    }

    public func load(from file: SafetensorsFile) throws {
        try checkAlgorithm(file, "sac")
        try critics.load(from: file, prefix: "critic.")
        try improvement.load(from: file, prefix: "actor.")
        updates = try metadataInt(file, "learner.updates")
    }
}

/// What the actor ascends, from the mean-Q column: the min over two critics, the mean over more (REDQ); in chunks
/// of the critics' workspace batch (cold path).
package func estimateEnsembleQ(_ critics: CriticEnsemble, _ input: UnsafePointer<Float>, batch: Int, output: UnsafeMutablePointer<Float>) {
    let chunk = critics.workspace.maxBatch, width = critics.outputSize, inSize = critics.networks[0].config.inputSize
    let a = Tensor(zeros: [chunk, width]), b = Tensor(zeros: [chunk, width])
    var start = 0
    while start < batch {
        let n = min(chunk, batch - start)
        critics.networks[0].evaluate(input + start * inSize, batch: n, output: a.data, workspace: critics.workspace)
        if critics.count == 2 {
            critics.networks[1].evaluate(input + start * inSize, batch: n, output: b.data, workspace: critics.workspace)
            for r in 0 ..< n { output[start + r] = min(a.data[r * width], b.data[r * width]) }
        } else {
            for r in 0 ..< n { output[start + r] = a.data[r * width] }
            for k in 1 ..< critics.count {
                critics.networks[k].evaluate(input + start * inSize, batch: n, output: b.data, workspace: critics.workspace)
                for r in 0 ..< n { output[start + r] += b.data[r * width] }
            }
            for r in 0 ..< n { output[start + r] /= Float(critics.count) }
        }
        start += n
    }
}

package func checkAlgorithm(_ file: SafetensorsFile, _ name: String) throws {
    let found = file.metadata["learner.algorithm"] ?? "none"
    guard found == name else {
        throw ReflexError(.invalidValue, "checkpoint holds a '\(found)' learner, not '\(name)'",
                          at: .init(file: file.path, keyPath: "learner.algorithm"))
    }
}

package func metadataInt(_ file: SafetensorsFile, _ key: String) throws -> Int {
    guard let s = file.metadata[key], let v = Int(s) else {
        throw ReflexError(.invalidValue, "missing or bad integer in checkpoint metadata", at: .init(file: file.path, keyPath: key))
    }
    return v
}
