import ReflexCore
import ReflexNN

/// Chunk-level transitions for offline value learning: (s, a, r, s′, done), with `a` a whole executed action chunk
/// and `r` the discounted reward accumulated while it ran. Stored structure-of-arrays, preallocated.
public final class TransitionDataset: @unchecked Sendable {
    public let stateSize: Int
    public let actionSize: Int
    public let capacity: Int
    public private(set) var count = 0
    let states: Tensor
    let actions: Tensor
    let nextStates: Tensor
    let rewards: Tensor
    /// γ^k (1 − done) for a chunk of k steps: the factor in front of the bootstrap value.
    let discounts: Tensor
    /// Monte-Carlo return from s (used by Cal-QL-style bounds and for bias reports).
    let returns: Tensor

    public init(stateSize: Int, actionSize: Int, capacity: Int) {
        self.stateSize = stateSize
        self.actionSize = actionSize
        self.capacity = capacity
        states = Tensor(zeros: [capacity, stateSize])
        actions = Tensor(zeros: [capacity, actionSize])
        nextStates = Tensor(zeros: [capacity, stateSize])
        rewards = Tensor(zeros: [capacity])
        discounts = Tensor(zeros: [capacity])
        returns = Tensor(zeros: [capacity])
    }

    /// Transition `index`'s state (`stateSize` values), for inspection.
    public func state(_ index: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: states.data + index * stateSize, count: stateSize)
    }

    /// Appends one transition; returns false when full.
    @discardableResult
    public func append(state: UnsafePointer<Float>, action: UnsafePointer<Float>, reward: Float,
                       nextState: UnsafePointer<Float>, discount: Float, monteCarloReturn: Float) -> Bool {
        guard count < capacity else { return false }
        (states.data + count * stateSize).update(from: state, count: stateSize)
        (actions.data + count * actionSize).update(from: action, count: actionSize)
        (nextStates.data + count * stateSize).update(from: nextState, count: stateSize)
        rewards.data[count] = reward
        discounts.data[count] = discount
        returns.data[count] = monteCarloReturn
        count += 1
        return true
    }
}

/// Implicit Q-Learning (Kostrikov, Nair, Levine 2022), the offline value learner V-GPS uses (Nakamoto et al. 2024).
///
/// V is fit to an upper expectile of the target critics, L_V = E[|τ − 1(u < 0)| u²] with u = min_i Q̄_i(s, a) − V(s)
/// (eq. 5); each critic regresses onto r + γ V(s′) (eq. 6); targets follow by Polyak averaging. No action is ever
/// sampled from a policy, so the critics only see actions from the data — which is what makes the result usable for
/// ranking a frozen policy's own candidates.
public final class IQL {
    public struct Config: Codable, Sendable {
        public var hiddenSizes: [Int]
        public var activation: Activation
        public var layerNorm: Bool
        public var expectile: Float
        public var tau: Float
        public var learningRate: Float
        public var batchSize: Int

        public init(hiddenSizes: [Int] = [256, 256], activation: Activation = .relu, layerNorm: Bool = true,
                    expectile: Float = 0.7, tau: Float = 0.005, learningRate: Float = 3e-4, batchSize: Int = 256) {
            self.hiddenSizes = hiddenSizes
            self.activation = activation
            self.layerNorm = layerNorm
            self.expectile = expectile
            self.tau = tau
            self.learningRate = learningRate
            self.batchSize = batchSize
        }
    }

    public let config: Config
    public let stateSize: Int
    public let actionSize: Int
    /// Twin critics Q_i(s, a) and their targets.
    public let critics: [MLP]
    public let targets: [MLP]
    public let value: MLP
    public private(set) var criticOptimizers: [Adam]
    public private(set) var valueOptimizer: Adam
    public private(set) var updates = 0
    private let criticTapes: [MLPTape]
    private let valueTape: MLPTape
    private let criticGradient: Tensor
    private let valueGradient: Tensor
    private let stateAction: Tensor
    private let stateBatch: Tensor
    private let nextStateBatch: Tensor
    private let targetQ: Tensor
    private let nextV: Tensor
    private let dOut: Tensor
    private let scratch: Tensor
    private let workspace: MLPWorkspace
    private let valueWorkspace: MLPWorkspace
    private var indices: [Int]

    public init(stateSize: Int, actionSize: Int, config: Config = Config(), generator: inout RandomGenerator) {
        self.config = config
        self.stateSize = stateSize
        self.actionSize = actionSize
        let q = MLPConfig(inputSize: stateSize + actionSize, hiddenSizes: config.hiddenSizes, outputSize: 1,
                          activation: config.activation, layerNorm: config.layerNorm)
        let v = MLPConfig(inputSize: stateSize, hiddenSizes: config.hiddenSizes, outputSize: 1,
                          activation: config.activation, layerNorm: config.layerNorm)
        critics = [MLP(config: q, generator: &generator), MLP(config: q, generator: &generator)]
        targets = critics.map { $0.copy() }
        value = MLP(config: v, generator: &generator)
        let adam = Adam.Config(learningRate: config.learningRate)
        criticOptimizers = critics.map { Adam(parameterCount: $0.parameterCount, config: adam) }
        valueOptimizer = Adam(parameterCount: value.parameterCount, config: adam)
        let b = config.batchSize
        criticTapes = critics.map { _ in MLPTape(config: q, maxBatch: b) }
        valueTape = MLPTape(config: v, maxBatch: b)
        criticGradient = Tensor(zeros: [critics[0].parameterCount])
        valueGradient = Tensor(zeros: [value.parameterCount])
        stateAction = Tensor(zeros: [b, stateSize + actionSize])
        stateBatch = Tensor(zeros: [b, stateSize])
        nextStateBatch = Tensor(zeros: [b, stateSize])
        targetQ = Tensor(zeros: [b])
        nextV = Tensor(zeros: [b])
        dOut = Tensor(zeros: [b])
        scratch = Tensor(zeros: [b])
        workspace = MLPWorkspace(config: q, maxBatch: b)
        valueWorkspace = MLPWorkspace(config: v, maxBatch: b)
        indices = [Int](repeating: 0, count: b)
    }

    /// One IQL update on a minibatch drawn uniformly from `data`. Returns (critic loss, value loss).
    /// - Note: Real-time safe.
    @discardableResult
    public func update(_ data: TransitionDataset, generator: inout RandomGenerator) -> (critic: Float, value: Float) {
        precondition(data.count > 0 && data.stateSize == stateSize && data.actionSize == actionSize)
        let b = config.batchSize
        let w = stateSize + actionSize
        for r in 0 ..< b {
            let i = generator.index(below: data.count)
            indices[r] = i
            (stateAction.data + r * w).update(from: data.states.data + i * stateSize, count: stateSize)
            (stateAction.data + r * w + stateSize).update(from: data.actions.data + i * actionSize, count: actionSize)
            (nextStateBatch.data + r * stateSize).update(from: data.nextStates.data + i * stateSize, count: stateSize)
        }
        // min_i Q̄_i(s, a)
        targets[0].evaluate(stateAction.data, batch: b, output: targetQ.data, workspace: workspace)
        targets[1].evaluate(stateAction.data, batch: b, output: scratch.data, workspace: workspace)
        for r in 0 ..< b { targetQ.data[r] = min(targetQ.data[r], scratch.data[r]) }

        // Value: expectile regression of V(s) toward min Q̄ (eq. 5).
        // V sees only the state columns of the batch.
        for r in 0 ..< b { (stateBatch.data + r * stateSize).update(from: stateAction.data + r * w, count: stateSize) }
        let v = value.forward(stateBatch.data, batch: b, tape: valueTape)
        var valueLoss: Float = 0
        for r in 0 ..< b {
            let u = targetQ.data[r] - v[r]
            let weight: Float = u < 0 ? 1 - config.expectile : config.expectile
            valueLoss += weight * u * u
            dOut.data[r] = -2 * weight * u / Float(b)
        }
        valueGradient.fill(0)
        value.backward(tape: valueTape, outputGradient: dOut.data, gradient: valueGradient, inputGradient: nil)
        valueOptimizer.update(parameters: value.parameters, gradient: valueGradient)

        // Critics: regress onto r + γ^k (1 − d) V(s′) (eq. 6).
        value.evaluate(nextStateBatch.data, batch: b, output: nextV.data, workspace: valueWorkspace)
        for r in 0 ..< b {
            let i = indices[r]
            targetQ.data[r] = data.rewards.data[i] + data.discounts.data[i] * nextV.data[r]
        }
        var criticLoss: Float = 0
        for k in 0 ..< 2 {
            let q = critics[k].forward(stateAction.data, batch: b, tape: criticTapes[k])
            for r in 0 ..< b {
                let e = q[r] - targetQ.data[r]
                criticLoss += e * e
                dOut.data[r] = 2 * e / Float(b)
            }
            criticGradient.fill(0)
            critics[k].backward(tape: criticTapes[k], outputGradient: dOut.data, gradient: criticGradient, inputGradient: nil)
            criticOptimizers[k].update(parameters: critics[k].parameters, gradient: criticGradient)
            polyakAverage(target: targets[k].parameters, source: critics[k].parameters, tau: config.tau)
        }
        updates += 1
        return (criticLoss / Float(2 * b), valueLoss / Float(b))
    }
}
