#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import ReflexNN

/// What an offline value learner gives V-GPS: twin target critics Q̄_i(s, a) over (state, action chunk), learned from
/// a `TransitionDataset`. IQL and Cal-QL are the two the V-GPS paper names (Nakamoto et al. 2024, §5 and App. B).
public protocol OfflineValueLearner: AnyObject {
    var stateSize: Int { get }
    var actionSize: Int { get }
    /// The critics' architecture (input state + action, output 1).
    var criticConfig: MLPConfig { get }
    /// The Polyak-averaged critics V-GPS scores with.
    var targets: [MLP] { get }
    /// One update on a minibatch of `data`; returns the critics' loss and a second loss the learner names
    /// (IQL: the value's expectile loss; Cal-QL: the conservative gap).
    func update(_ data: TransitionDataset, generator: inout RandomGenerator) -> (critic: Float, value: Float)
}

extension IQL: OfflineValueLearner {
    public var criticConfig: MLPConfig { critics[0].config }
}

/// Calibrated Q-learning (Cal-QL, Nakamoto et al. 2023), the critic V-GPS trains in its paper.
///
/// CQL(H) with importance sampling (Kumar et al. 2020, App. F): each critic minimizes
/// L = E[(Q(s, a) − y)²] + α_CQL · E_s[log Σ_j exp(Q(s, a_j) − log μ(a_j)) − Q(s, a_data)],
/// with the a_j drawn n times each from the uniform box (density 2^−|A|), from π(·|s) and from π(·|s′), all scored at
/// s. Cal-QL's one change (Alg. 1, line 5): the Q-values of the policy's actions inside the log-sum-exp are
/// lower-bounded by the reference value, the Monte-Carlo return of the data (`TransitionDataset.returns`), so the
/// critic is conservative without falling below the behaviour policy's value; where the bound binds, no gradient
/// pushes that Q-value down. The target is CQL's max backup, as both official codes run it (`cql_max_target_backup`):
/// y = r + γ^k (1 − d) max_j min_i Q̄_i(s′, a′_j) over n actions a′_j ~ π(·|s′), with no entropy term.
/// The actor and its temperature are SAC's (`SoftPolicyImprovement`: α from 1, target entropy −|A|), which is how
/// V-GPS's `ContinuousCQLAgent` proposes the "policy actions": over a chunk, π is a tanh-Gaussian over the whole
/// executed chunk, trained on min_i Q_i(s, ·); it exists only to propose actions and is not saved. Actions are in
/// network space, [−1, 1].
public final class CalQL: OfflineValueLearner {
    public struct Config: Codable, Sendable, Equatable {
        public var hiddenSizes: [Int]
        public var activation: Activation
        public var layerNorm: Bool
        /// α_CQL, the weight of the conservative term (V-GPS's `cql_alpha` and Cal-QL's default: 5).
        public var conservativeWeight: Float
        /// n: actions drawn from each of the three proposals per state, and for the max backup (V-GPS's
        /// `cql_n_actions` default: 4; the Cal-QL release uses 10).
        public var sampledActions: Int
        public var tau: Float
        public var criticLearningRate: Float
        public var actorLearningRate: Float
        public var batchSize: Int

        public init(hiddenSizes: [Int] = [256, 256], activation: Activation = .relu, layerNorm: Bool = true,
                    conservativeWeight: Float = 5, sampledActions: Int = 4, tau: Float = 0.005,
                    criticLearningRate: Float = 3e-4, actorLearningRate: Float = 1e-4, batchSize: Int = 256) {
            self.hiddenSizes = hiddenSizes
            self.activation = activation
            self.layerNorm = layerNorm
            self.conservativeWeight = conservativeWeight
            self.sampledActions = sampledActions
            self.tau = tau
            self.criticLearningRate = criticLearningRate
            self.actorLearningRate = actorLearningRate
            self.batchSize = batchSize
        }

        /// Checks the ranges.
        public func validate() throws {
            guard batchSize > 0 else { throw ReflexError(.invalidValue, "Cal-QL: the batch size must be positive, got \(batchSize)") }
            guard sampledActions > 0 else {
                throw ReflexError(.invalidValue, "Cal-QL: sampled actions per proposal must be positive, got \(sampledActions)")
            }
            guard conservativeWeight >= 0, conservativeWeight.isFinite else {
                throw ReflexError(.invalidValue, "Cal-QL: the conservative weight must be finite and ≥ 0, got \(conservativeWeight)")
            }
            guard tau > 0, tau <= 1 else { throw ReflexError(.invalidValue, "Cal-QL: τ must be in (0, 1], got \(tau)") }
            guard criticLearningRate > 0, actorLearningRate > 0 else {
                throw ReflexError(.invalidValue, "Cal-QL: learning rates must be positive")
            }
            guard !hiddenSizes.isEmpty, hiddenSizes.allSatisfy({ $0 > 0 }) else {
                throw ReflexError(.invalidValue, "Cal-QL: hidden widths must be positive, got \(hiddenSizes)")
            }
        }
    }

    public let config: Config
    public let stateSize: Int
    public let actionSize: Int
    public let critics: CriticEnsemble
    public let actor: SoftPolicyImprovement
    public private(set) var updates = 0
    public var targets: [MLP] { critics.targets }
    public var criticConfig: MLPConfig { critics.networks[0].config }
    /// The share of policy proposals whose Q-value the return lifted in the last update, over both critics (the
    /// official code's `calql_bound_rate`).
    public private(set) var boundRate: Float = 0

    /// Rows per critic pass: the batch's own (s, a), then n × 3 proposals per state, proposal-major.
    private let rows: Int
    private let input: Tensor
    private let criticTapes: [MLPTape]
    private let outputGradient: Tensor
    private let gradient: Tensor
    private let repeatedStates: Tensor
    private let repeatedNextStates: Tensor
    private let proposalTape: TanhGaussianPolicy.Tape
    /// log μ(a_j) of every proposal row (3 · b · n, in the proposal rows' order).
    private let proposalLogDensity: Tensor
    /// (s′, a′_j) for the max backup, proposal-major (b · n rows).
    private let nextInput: Tensor
    private let nextQ: Tensor
    private let scratch: Tensor
    private let tdTargets: Tensor
    private let references: Tensor
    private let workspace: MLPWorkspace
    private let actorBatch: ReplayBatch
    private let weights: Tensor
    private var indices: [Int]
    /// The last actor step's loss, α and entropy.
    public private(set) var actorMetrics = UpdateMetrics()

    public init(stateSize: Int, actionSize: Int, config: Config = Config(), generator: inout RandomGenerator) throws {
        try config.validate()
        guard stateSize > 0, actionSize > 0 else {
            throw ReflexError(.invalidValue, "Cal-QL: state and action sizes must be positive, got \(stateSize) and \(actionSize)")
        }
        self.config = config
        self.stateSize = stateSize
        self.actionSize = actionSize
        let b = config.batchSize, n = config.sampledActions, w = stateSize + actionSize
        let offPolicy = OffPolicyConfig(actorHiddenSizes: config.hiddenSizes, criticHiddenSizes: config.hiddenSizes,
                                        activation: config.activation, layerNorm: config.layerNorm, batchSize: b,
                                        tau: config.tau, actorLearningRate: config.actorLearningRate,
                                        criticLearningRate: config.criticLearningRate)
        let twin = CriticEnsemble(inputSize: w, outputSize: 1, config: offPolicy, generator: &generator)
        let criticNetwork = twin.networks[0].config
        critics = twin
        let policy = TanhGaussianPolicy(observationSize: stateSize, actionSize: actionSize, hiddenSizes: config.hiddenSizes,
                                        activation: config.activation, generator: &generator)
        actor = SoftPolicyImprovement(policy: policy, criticConfig: criticNetwork, config: offPolicy)
        rows = b * (1 + 3 * n)
        input = Tensor(zeros: [rows, w])
        criticTapes = (0 ..< 2).map { _ in MLPTape(config: criticNetwork, maxBatch: b * (1 + 3 * n)) }
        outputGradient = Tensor(zeros: [rows])
        gradient = Tensor(zeros: [twin.networks[0].parameterCount])
        repeatedStates = Tensor(zeros: [b * n, stateSize])
        repeatedNextStates = Tensor(zeros: [b * n, stateSize])
        proposalTape = TanhGaussianPolicy.Tape(policy: policy, maxBatch: b * n)
        proposalLogDensity = Tensor(zeros: [3 * b * n])
        nextInput = Tensor(zeros: [b * n, w])
        nextQ = Tensor(zeros: [b * n])
        scratch = Tensor(zeros: [b * n])
        tdTargets = Tensor(zeros: [b])
        references = Tensor(zeros: [b])
        workspace = MLPWorkspace(config: criticNetwork, maxBatch: b * n)
        actorBatch = ReplayBatch(size: b, observationSize: stateSize, actionSize: actionSize)
        weights = Tensor(zeros: [3 * n])
        indices = [Int](repeating: 0, count: b)
    }

    /// One Cal-QL update (both critics, then the actor and α) on a minibatch drawn uniformly from `data`.
    /// Returns the mean TD loss and the mean conservative gap log Σ exp(·) − Q(s, a_data).
    /// - Note: Real-time safe.
    @discardableResult
    public func update(_ data: TransitionDataset, generator: inout RandomGenerator) -> (critic: Float, value: Float) {
        precondition(data.count > 0 && data.stateSize == stateSize && data.actionSize == actionSize)
        let b = config.batchSize, n = config.sampledActions, S = stateSize, A = actionSize, w = S + A
        for r in 0 ..< b {
            let i = generator.index(below: data.count)
            indices[r] = i
            let row = input.data + r * w
            row.update(from: data.states.data + i * S, count: S)
            (row + S).update(from: data.actions.data + i * A, count: A)
            (actorBatch.observations.data + r * S).update(from: data.states.data + i * S, count: S)
            references.data[r] = data.returns.data[i]
            for j in 0 ..< n {
                (repeatedStates.data + (j * b + r) * S).update(from: data.states.data + i * S, count: S)
                (repeatedNextStates.data + (j * b + r) * S).update(from: data.nextStates.data + i * S, count: S)
            }
        }

        // Max backup: y = r + γ^k (1 − d) max_j min_i Q̄_i(s′, a′_j), a′_j ~ π(·|s′) (no entropy, as CQL and Cal-QL).
        actor.policy.sample(repeatedNextStates.data, batch: b * n, tape: proposalTape, generator: &generator)
        for j in 0 ..< b * n {
            let row = nextInput.data + j * w
            row.update(from: repeatedNextStates.data + j * S, count: S)
            (row + S).update(from: proposalTape.actions.data + j * A, count: A)
        }
        critics.targets[0].evaluate(nextInput.data, batch: b * n, output: nextQ.data, workspace: workspace)
        critics.targets[1].evaluate(nextInput.data, batch: b * n, output: scratch.data, workspace: workspace)
        for r in 0 ..< b {
            var best = -Float.infinity
            for j in 0 ..< n { best = max(best, min(nextQ.data[j * b + r], scratch.data[j * b + r])) }
            let i = indices[r]
            tdTargets.data[r] = data.rewards.data[i] + data.discounts.data[i] * best
        }

        // Proposals, proposal-major after the batch rows: [uniform × n][π(·|s) × n][π(·|s′) × n], each block b·n rows.
        let uniformLogDensity = -Float(A) * TanhGaussianPolicy.log2
        for j in 0 ..< b * n {
            let row = input.data + (b + j) * w
            row.update(from: repeatedStates.data + j * S, count: S)
            for m in 0 ..< A { row[S + m] = 2 * generator.uniformFloat() - 1 }
            proposalLogDensity.data[j] = uniformLogDensity
        }
        for block in 1 ... 2 {
            let source = block == 1 ? repeatedStates : repeatedNextStates
            actor.policy.sample(source.data, batch: b * n, tape: proposalTape, generator: &generator)
            for j in 0 ..< b * n {
                let row = input.data + (b + block * b * n + j) * w
                row.update(from: repeatedStates.data + j * S, count: S)
                (row + S).update(from: proposalTape.actions.data + j * A, count: A)
                proposalLogDensity.data[block * b * n + j] = proposalTape.logProbabilities.data[j]
            }
        }

        var tdLoss: Float = 0, gap: Float = 0, bound = 0
        for k in 0 ..< 2 {
            let q = critics.networks[k].forward(input.data, batch: rows, tape: criticTapes[k])
            let loss = Self.criticLoss(q: q, targets: tdTargets.data, references: references.data,
                                       logDensity: proposalLogDensity.data, batch: b, sampledActions: n,
                                       alpha: config.conservativeWeight, weights: weights.data,
                                       gradient: outputGradient.data)
            (tdLoss, gap, bound) = (tdLoss + loss.td, gap + loss.gap, bound + loss.bound)
            gradient.fill(0)
            critics.networks[k].backward(tape: criticTapes[k], outputGradient: outputGradient.data, gradient: gradient, inputGradient: nil)
            critics.optimizers[k].update(parameters: critics.networks[k].parameters, gradient: gradient)
        }
        critics.updateTargets(tau: config.tau)
        actor.update(batch: actorBatch, critics: critics, metrics: &actorMetrics, generator: &generator)
        boundRate = Float(bound) / Float(2 * 2 * b * n)
        updates += 1
        return (tdLoss / 2, gap / 2)
    }

    /// Cal-QL's loss for one critic, L = mean_r (Q_r − y_r)² + α · mean_r [log Σ_j exp(Q̃_rj − log μ_rj) − Q_r],
    /// with Q̃ = Q on the uniform proposals and max(Q, reference_r) on the policy's, and its gradient dL/dQ for every
    /// row into `gradient` (zero where the bound binds). Rows as `update` lays them out: `batch` data rows, then the
    /// uniform, π(·|s) and π(·|s′) blocks, each proposal-major (row b + block·b·n + j·b + r); `logDensity` holds the
    /// 3·b·n proposals' log μ in that order and `weights` is scratch for 3n values.
    /// Returns the TD term, the conservative gap (both batch means) and how many policy proposals the bound lifted.
    /// - Note: Real-time safe.
    public static func criticLoss(q: UnsafePointer<Float>, targets: UnsafePointer<Float>, references: UnsafePointer<Float>,
                                  logDensity: UnsafePointer<Float>, batch b: Int, sampledActions n: Int, alpha: Float,
                                  weights: UnsafeMutablePointer<Float>, gradient: UnsafeMutablePointer<Float>)
        -> (td: Float, gap: Float, bound: Int) {
        var td: Float = 0, gap: Float = 0, bound = 0
        let inv = 1 / Float(b)
        for r in 0 ..< b {
            let e = q[r] - targets[r]
            td += e * e
            let reference = references[r]
            // Importance-weighted log-sum-exp over the 3n proposals, stabilized by its largest term.
            var largest = -Float.infinity
            for j in 0 ..< 3 * n {
                let block = j / n, p = block * b * n + (j % n) * b + r
                let value = block == 0 ? q[b + p] : max(q[b + p], reference)
                if block > 0, q[b + p] < reference { bound += 1 }
                weights[j] = value - logDensity[p]
                largest = max(largest, weights[j])
            }
            var total: Float = 0
            for j in 0 ..< 3 * n {
                weights[j] = expf(weights[j] - largest)
                total += weights[j]
            }
            gap += largest + logf(total) - q[r]
            for j in 0 ..< 3 * n {
                let block = j / n, p = block * b * n + (j % n) * b + r
                // The bound passes no gradient where the return is the larger.
                gradient[b + p] = block == 0 || q[b + p] >= reference ? alpha * inv * weights[j] / total : 0
            }
            gradient[r] = 2 * e * inv - alpha * inv
        }
        return (td * inv, gap * inv, bound)
    }
}
