#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore
import ReflexNN
import ReflexPolicy

/// How V-GPS picks among scored candidates (Nakamoto et al. 2024, §4).
public enum CandidateSelection: Codable, Sendable, Equatable {
    /// Execute the candidate with the highest Q.
    case argmax
    /// Draw candidate k with probability exp(Q_k / β) / Σ_j exp(Q_j / β): β is a temperature, as the released code's
    /// `action_temp` ("the beta value in the paper"), whose default and the paper's setting is β = 1.
    case softmax(beta: Float)

    /// The selection `SteeringDefaults` describes (policy.yaml's `selection`/`beta`, the command line's overrides).
    public init(_ steering: SteeringDefaults) {
        self = steering.softmaxTemperature.map { .softmax(beta: $0) } ?? .argmax
    }

    /// Checks β: a softmax temperature must be finite and positive.
    public func validate() throws {
        if case let .softmax(beta) = self, !(beta > 0 && beta.isFinite) {
            throw ReflexError(.invalidValue, "V-GPS's softmax temperature β must be finite and > 0, got \(beta)")
        }
    }

    /// The index to execute among `count` scores: the first highest, or one draw from the softmax (one uniform
    /// number from `generator`, so a seeded generator gives the same picks).
    /// - Note: Real-time safe.
    public func pick(_ scores: UnsafePointer<Float>, count: Int, generator: inout RandomGenerator) -> Int {
        precondition(count >= 1)
        var best = 0
        for k in 1 ..< count where scores[k] > scores[best] { best = k }
        guard case let .softmax(beta) = self else { return best }
        // Stable softmax: exponents relative to the largest score, so every term is in (0, 1].
        var total = 0.0
        for k in 0 ..< count { total += exp(Double((scores[k] - scores[best]) / beta)) }
        var u = generator.uniform() * total
        for k in 0 ..< count {
            u -= exp(Double((scores[k] - scores[best]) / beta))
            if u <= 0 { return k }
        }
        return count - 1
    }
}

/// V-GPS value re-ranking: score K action chunks sampled in one batched pass with the minimum of twin critics
/// Q(s, a), and execute the best (or a softmax draw).
///
/// The critic's state is the policy's normalized condition (the flattened observation history) and its action is
/// the executed part of a chunk (`n_action_steps` rows from index `n_obs_steps − 1`) in network space, the same
/// representation the offline value learner saw.
public final class ValueReranker {
    public let critics: [MLP]
    public let stateSize: Int
    public let actionSize: Int
    public let maxCandidates: Int
    /// Argmax or softmax; a softmax β must be finite and positive (`CandidateSelection.validate`).
    public var selection: CandidateSelection {
        didSet { precondition((try? selection.validate()) != nil, "V-GPS softmax temperature out of range: \(selection)") }
    }
    private let input: Tensor
    private let q: Tensor
    private let q2: Tensor
    private let workspace: MLPWorkspace
    /// Scores of the last `select` call (min over critics), one per candidate.
    public var lastScores: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: q.data, count: lastCount) }
    private var lastCount = 0

    public init(critics: [MLP], stateSize: Int, actionSize: Int, maxCandidates: Int, selection: CandidateSelection = .argmax) throws {
        guard let first = critics.first, critics.allSatisfy({ $0.config == first.config }),
              first.config.inputSize == stateSize + actionSize, first.config.outputSize == 1
        else {
            throw ReflexError(.shapeMismatch, "V-GPS critics must share one shape with input \(stateSize + actionSize) and one output")
        }
        try selection.validate()
        self.critics = critics
        self.stateSize = stateSize
        self.actionSize = actionSize
        self.maxCandidates = maxCandidates
        self.selection = selection
        input = Tensor(zeros: [maxCandidates, stateSize + actionSize])
        q = Tensor(zeros: [maxCandidates])
        q2 = Tensor(zeros: [maxCandidates])
        workspace = MLPWorkspace(config: first.config, maxBatch: maxCandidates)
    }

    /// Scores `count` candidate actions (each `actionSize` values, `stride` apart) for one state and returns the
    /// index to execute.
    /// - Note: Real-time safe.
    public func select(state: UnsafePointer<Float>, candidates: UnsafePointer<Float>, stride: Int, count: Int,
                       generator: inout RandomGenerator) -> Int {
        precondition(count >= 1 && count <= maxCandidates)
        let w = stateSize + actionSize
        for k in 0 ..< count {
            (input.data + k * w).update(from: state, count: stateSize)
            (input.data + k * w + stateSize).update(from: candidates + k * stride, count: actionSize)
        }
        critics[0].evaluate(input.data, batch: count, output: q.data, workspace: workspace)
        for c in critics.dropFirst() {
            c.evaluate(input.data, batch: count, output: q2.data, workspace: workspace)
            for k in 0 ..< count { q.data[k] = min(q.data[k], q2.data[k]) }
        }
        lastCount = count
        return selection.pick(q.data, count: count, generator: &generator)
    }
}
