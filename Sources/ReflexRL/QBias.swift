import ReflexCore

/// How far a learner's Q-estimates sit from the returns its policy actually collects (the overestimation study of
/// Fujimoto et al. 2018 and Duan et al. 2025, §VI-C).
public struct QBiasReport: Codable, Sendable, Equatable {
    /// Mean of Q̂(s_t, a_t) − G_t over the visited pairs.
    public var meanBias: Double
    /// Standard deviation of the same differences.
    public var stdBias: Double
    /// Mean Monte-Carlo return G_t (to read the bias relative to it).
    public var meanReturn: Double
    /// Pairs compared.
    public var samples: Int
}

public enum QBias {
    /// Rolls out the learner's stochastic policy for `episodes` episodes from fixed seeds and compares the critics'
    /// estimate min_i Q_i(s_t, a_t) with the discounted soft return that follows,
    /// G_t = r_t + Σ_{k>t} γ^{k−t} (r_k − α log π(a_k|s_k)) (the quantity a soft Q-function estimates), for the first
    /// `environment.maxEpisodeSteps` steps. Episodes run `extraSteps` past the time limit (unless the task terminates)
    /// so that the returns of late states are not cut short by the truncation the critic bootstraps through.
    /// - Warning: Not real-time safe (allocates its buffers).
    public static func measure<Env: Environment>(learner: any OffPolicyLearner, environment: Env, episodes: Int,
                                                 extraSteps: Int, seedBase: UInt64 = 1 << 41) -> QBiasReport {
        var env = environment
        let o = learner.observationSize, a = learner.actionSize
        let tape = TanhGaussianPolicy.Tape(policy: learner.policy, maxBatch: 1)
        let low = env.actionSpace.low, high = env.actionSpace.high
        let gamma = Double(learner.config.gamma), alpha = Double(learner.alpha)
        var diffs: [Double] = [], returns: [Double] = []
        for e in 0 ..< episodes {
            var gen = RandomGenerator(seed: seedBase + UInt64(e))
            var obs = [Float](repeating: 0, count: o)
            env.reset(seed: seedBase + UInt64(e), observation: &obs)
            var pairs: [Float] = [], rewards: [Double] = [], logps: [Double] = []
            var envAction = [Float](repeating: 0, count: a)
            let horizon = env.maxEpisodeSteps + extraSteps
            for _ in 0 ..< horizon {
                learner.policy.sample(obs, batch: 1, tape: tape, generator: &gen)
                pairs += obs
                for j in 0 ..< a {
                    let u = tape.actions.data[j]
                    pairs.append(u)
                    envAction[j] = low[j] + (u + 1) * 0.5 * (high[j] - low[j])
                }
                logps.append(Double(tape.logProbabilities.data[0]))
                let out = env.step(envAction, observation: &obs)
                rewards.append(out.reward)
                if out.terminated { break }
            }
            // Backward recursion: G_t = r_t + γ (G_{t+1} − α log π_{t+1}), with G beyond the rollout taken as 0.
            let n = rewards.count
            var g = [Double](repeating: 0, count: n)
            var next = 0.0
            for t in stride(from: n - 1, through: 0, by: -1) {
                g[t] = rewards[t] + (t + 1 < n ? gamma * (next - alpha * logps[t + 1]) : 0)
                next = g[t]
            }
            let compared = min(n, env.maxEpisodeSteps)
            var q = [Float](repeating: 0, count: compared)
            pairs.withUnsafeBufferPointer { p in
                q.withUnsafeMutableBufferPointer { out in
                    learner.estimateQ(p.baseAddress!, batch: compared, output: out.baseAddress!)
                }
            }
            for t in 0 ..< compared {
                diffs.append(Double(q[t]) - g[t])
                returns.append(g[t])
            }
        }
        return QBiasReport(meanBias: Statistics.mean(diffs), stdBias: Statistics.standardDeviation(diffs),
                           meanReturn: Statistics.mean(returns), samples: diffs.count)
    }
}
