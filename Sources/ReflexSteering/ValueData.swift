import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRL

/// V-GPS's offline data (Nakamoto et al. 2024, §5): chunk-level transitions from demonstrations and rollouts of the
/// base policy, in the representation `ValueReranker` scores at run time.
///
/// The state is the policy's normalized observation history (its condition); the action is the executed part of a
/// chunk (`n_action_steps` actions from the current step) in network space. Rewards are the paper's sparse ones,
/// −1 per step and 0 on the step that completes the task, so Q estimates (minus) the discounted time to success and
/// ranks candidates by how soon they finish. An episode marked successful is taken to succeed on its last step
/// (Reflex's tasks terminate on success); a failed one is cut off by the time limit and bootstraps.
///
/// The Monte-Carlo return of each step (Cal-QL's reference value) is the discounted sum of the episode's rewards
/// from that step when it succeeded; a failed episode never earned its 0, so every step of it gets −1/(1 − γ), the
/// return of failing forever — the official Cal-QL's `calc_return_to_go` for an all-negative sparse trajectory. The
/// sum cut off at the time limit would be higher than what the policy earns from there and so no lower bound.
public enum ValueData {
    /// Every step of every episode starts one transition (overlapping chunks), as the policy infers at any step.
    public static func transitions(from sets: [Demonstrations], policy config: PolicyConfig, gamma: Float) throws -> TransitionDataset {
        let nObs = config.nObsSteps, nA = config.nActionSteps, A = config.actionSize
        let capacity = sets.reduce(0) { $0 + $1.stepCount }
        guard capacity > 0 else { throw ReflexError(.invalidArgument, "no steps to learn a value function from") }
        for d in sets where d.observationSize != config.observationSize || d.actionSize != A {
            throw ReflexError(.shapeMismatch, "episodes with observations of \(d.observationSize) and actions of \(d.actionSize) do not fit the policy (\(config.observationSize), \(A))")
        }
        let actions = ActionSpace(config: config)
        let data = TransitionDataset(stateSize: config.conditionSize, actionSize: nA * A, capacity: capacity)
        let window = nObs - 1 + nA
        let s = Tensor(zeros: [config.conditionSize]), s2 = Tensor(zeros: [config.conditionSize])
        let chunk = Tensor(zeros: [window, A]), scratch = Tensor(zeros: [window, A])
        for set in sets {
            for (e, episode) in set.episodes.enumerated() {
                let L = episode.length
                // Per-step sparse reward and the Monte-Carlo return from each step.
                let reward: [Float] = (0 ..< L).map { t in episode.success && t == L - 1 ? 0 : -1 }
                var mc = [Float](repeating: episode.success ? 0 : -1 / (1 - gamma), count: L + 1)
                if episode.success { for t in stride(from: L - 1, through: 0, by: -1) { mc[t] = reward[t] + gamma * mc[t + 1] } }
                for i in 0 ..< L {
                    set.window(episode: e, index: i, nObs: nObs, horizon: window, observations: s.data, actions: chunk.data)
                    config.normalization.observation.normalize(s.data, rows: nObs)
                    actions.toNetwork(chunk.data, rows: window)
                    let k = min(nA, L - i)
                    var r: Float = 0, g: Float = 1
                    for j in 0 ..< k { r += g * reward[i + j]; g *= gamma }
                    let done = episode.success && i + k == L
                    set.window(episode: e, index: min(i + k, L - 1), nObs: nObs, horizon: window,
                               observations: s2.data, actions: scratch.data)
                    config.normalization.observation.normalize(s2.data, rows: nObs)
                    data.append(state: s.data, action: chunk.data + (nObs - 1) * A, reward: r, nextState: s2.data,
                                discount: done ? 0 : g, monteCarloReturn: mc[i])
                }
            }
        }
        return data
    }
}
