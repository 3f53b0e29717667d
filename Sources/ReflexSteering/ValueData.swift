import ReflexCore
import ReflexNN
import ReflexPolicy
import ReflexRL

/// V-GPS's offline data (Nakamoto et al. 2024, §5): chunk-level transitions from demonstrations and rollouts of the
/// base policy, in the representation `ValueReranker` scores at run time.
///
/// The state is the denoiser's condition: the policy's normalized observation history and, for a camera policy, its
/// encoders' features of each camera's frame at the newest step (the frame recorded with that observation); the
/// action is the executed part of a chunk (`n_action_steps` actions from the current step) in network space.
/// Rewards are the paper's sparse ones, −1 per step and 0 on the step that completes the task, so Q estimates (minus) the discounted time to success and
/// ranks candidates by how soon they finish. An episode marked successful is taken to succeed on its last step
/// (Reflex's tasks terminate on success); a failed one is cut off by the time limit and bootstraps.
///
/// The Monte-Carlo return of each step (Cal-QL's reference value) is the discounted sum of the episode's rewards
/// from that step when it succeeded; a failed episode never earned its 0, so every step of it gets −1/(1 − γ), the
/// return of failing forever — the official Cal-QL's `calc_return_to_go` for an all-negative sparse trajectory. The
/// sum cut off at the time limit would be higher than what the policy earns from there and so no lower bound.
public enum ValueData {
    /// `data` as the policy sees it: narrowed to the observations it was trained on (policy.yaml's
    /// `notes.observation_names`, when `names` — the data's — hold more), refused with the missing name otherwise.
    public static func inputs(of data: Demonstrations, names: [String], for config: PolicyConfig) throws -> Demonstrations {
        guard let wanted = config.notes?["observation_names"].map({ $0.split(separator: ",").map(String.init) }),
              wanted != names, names.count == data.observationSize else {
            return data
        }
        let kept = try wanted.map { name -> Int in
            guard let i = names.firstIndex(of: name) else {
                throw ReflexError(.shapeMismatch, "the policy observes '\(name)', which the data (\(names.joined(separator: ", "))) does not hold")
            }
            return i
        }
        return try data.keepingObservations(kept)
    }

    /// Every step of every episode starts one transition (overlapping chunks), as the policy infers at any step. A
    /// camera policy needs its `encoders` (one per camera, in policy.yaml's order) and every set to hold frames of
    /// each of its cameras at the encoder's size.
    public static func transitions(from sets: [Demonstrations], policy config: PolicyConfig, encoders: [ConvEncoder] = [],
                                   gamma: Float) throws -> TransitionDataset {
        let nObs = config.nObsSteps, nA = config.nActionSteps, A = config.actionSize
        let capacity = sets.reduce(0) { $0 + $1.stepCount }
        guard capacity > 0 else { throw ReflexError(.invalidArgument, "no steps to learn a value function from") }
        for d in sets where d.observationSize != config.observationSize || d.actionSize != A {
            throw ReflexError(.shapeMismatch, "episodes with observations of \(d.observationSize) and actions of \(d.actionSize) do not fit the policy (\(config.observationSize), \(A))")
        }
        let cameras = config.cameras ?? []
        guard encoders.count == cameras.count else {
            throw ReflexError(.invalidArgument, "\(encoders.count) encoders for the policy's \(cameras.count) cameras")
        }
        // Where each policy camera's frames are in each set.
        let frameIndex = try sets.map { d in
            try cameras.map { c -> Int in
                guard let k = d.cameras.firstIndex(where: { $0.name == c.name }),
                      d.cameras[k].height == c.encoder.imageHeight, d.cameras[k].width == c.encoder.imageWidth else {
                    throw ReflexError(.shapeMismatch, "the policy sees camera '\(c.name)' at \(c.encoder.imageWidth)×\(c.encoder.imageHeight); the data holds \(d.cameras.map { "\($0.name) \($0.width)×\($0.height)" }) (record rollouts with reflex eval --record: a camera policy's are recorded with its frames)")
                }
                return k
            }
        }
        let actions = ActionSpace(config: config)
        let stateSize = config.denoiserConditionSize, history = config.conditionSize
        let data = TransitionDataset(stateSize: stateSize, actionSize: nA * A, capacity: capacity)
        let window = nObs - 1 + nA
        let s = Tensor(zeros: [stateSize]), s2 = Tensor(zeros: [stateSize])
        let chunk = Tensor(zeros: [window, A]), scratch = Tensor(zeros: [window, A])
        let tapes = encoders.map { ConvEncoderTape(config: $0.config, maxBatch: 1) }
        let image = Tensor(zeros: [encoders.map(\.imageCount).max() ?? 0])
        var features: [Float] = [] // an episode's camera features, step by step (each frame encoded once)
        for (n, set) in sets.enumerated() {
            for (e, episode) in set.episodes.enumerated() {
                features.removeAll(keepingCapacity: true)
                for i in 0 ..< episode.length {
                    for (c, encoder) in encoders.enumerated() {
                        set.withFrame(episode: e, index: i, camera: frameIndex[n][c]) { encoder.loadFrame($0, into: image.data) }
                        let f = encoder.forward(image.data, batch: 1, tape: tapes[c])
                        features.append(contentsOf: UnsafeBufferPointer(start: f, count: encoder.featureCount))
                    }
                }
                let f = config.cameraFeatureSize
                func addFeatures(of step: Int, to state: Tensor) {
                    for j in 0 ..< f { state.data[history + j] = features[step * f + j] }
                }
                let L = episode.length
                // Per-step sparse reward and the Monte-Carlo return from each step.
                let reward: [Float] = (0 ..< L).map { t in episode.success && t == L - 1 ? 0 : -1 }
                var mc = [Float](repeating: episode.success ? 0 : -1 / (1 - gamma), count: L + 1)
                if episode.success { for t in stride(from: L - 1, through: 0, by: -1) { mc[t] = reward[t] + gamma * mc[t + 1] } }
                for i in 0 ..< L {
                    set.window(episode: e, index: i, nObs: nObs, horizon: window, observations: s.data, actions: chunk.data)
                    config.normalization.observation.normalize(s.data, rows: nObs)
                    addFeatures(of: i, to: s)
                    actions.toNetwork(chunk.data, rows: window)
                    let k = min(nA, L - i)
                    var r: Float = 0, g: Float = 1
                    for j in 0 ..< k { r += g * reward[i + j]; g *= gamma }
                    let done = episode.success && i + k == L
                    set.window(episode: e, index: min(i + k, L - 1), nObs: nObs, horizon: window,
                               observations: s2.data, actions: scratch.data)
                    config.normalization.observation.normalize(s2.data, rows: nObs)
                    addFeatures(of: min(i + k, L - 1), to: s2)
                    data.append(state: s.data, action: chunk.data + (nObs - 1) * A, reward: r, nextState: s2.data,
                                discount: done ? 0 : g, monteCarloReturn: mc[i])
                }
            }
        }
        return data
    }
}
