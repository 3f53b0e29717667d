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
    /// Draw from softmax(Q / β) (the released setting uses β = 1).
    case softmax(beta: Float)
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
    public var selection: CandidateSelection
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
        var best = 0
        for k in 1 ..< count where q.data[k] > q.data[best] { best = k }
        switch selection {
        case .argmax:
            return best
        case let .softmax(beta):
            // Stable softmax: subtract the max before exponentiating.
            var total = 0.0
            for k in 0 ..< count { total += exp(Double((q.data[k] - q.data[best]) / beta)) }
            var u = generator.uniform() * total
            for k in 0 ..< count {
                u -= exp(Double((q.data[k] - q.data[best]) / beta))
                if u <= 0 { return k }
            }
            return count - 1
        }
    }
}
