import ReflexCore
@testable import ReflexPolicy

/// A tiny task for policy tests: a point in the plane moves toward an absolute position target (at most 0.1 per
/// step) and must reach a random goal; a third action dimension is a "gripper" that should close (+1) near the goal.
/// Observation: [x, y, goal x, goal y].
struct PointMass: Environment {
    var observationSpace = BoxSpace(unbounded: 4)
    var actionSpace = BoxSpace(symmetric: 2, size: 3)
    var maxEpisodeSteps = 40
    var p: (Float, Float) = (0, 0)
    var g: (Float, Float) = (0, 0)
    var steps = 0
    var gripperClosedNearGoal = false

    mutating func reset(seed: UInt64, observation: inout [Float]) {
        var r = RandomGenerator(seed: seed)
        p = (Float(r.uniform(-1, 1)), Float(r.uniform(-1, 1)))
        g = (Float(r.uniform(-1, 1)), Float(r.uniform(-1, 1)))
        steps = 0
        gripperClosedNearGoal = false
        observation = [p.0, p.1, g.0, g.1]
    }

    mutating func step(_ action: [Float], observation: inout [Float]) -> StepOutcome {
        func clip(_ v: Float) -> Float { max(-0.1, min(0.1, v)) }
        p = (p.0 + clip(action[0] - p.0), p.1 + clip(action[1] - p.1))
        steps += 1
        let d = ((p.0 - g.0) * (p.0 - g.0) + (p.1 - g.1) * (p.1 - g.1)).squareRoot()
        if d < 0.05 && action[2] > 0 { gripperClosedNearGoal = true }
        observation = [p.0, p.1, g.0, g.1]
        let success = gripperClosedNearGoal
        return StepOutcome(reward: success ? 0 : -1, terminated: success, truncated: steps >= maxEpisodeSteps, success: success)
    }

    /// The scripted expert: step toward the goal, close the gripper when there.
    static func expert(_ o: [Float]) -> [Float] {
        let dx = o[2] - o[0], dy = o[3] - o[1]
        let d = (dx * dx + dy * dy).squareRoot()
        let s = min(1, 0.1 / max(d, 1e-6))
        return [o[0] + dx * s, o[1] + dy * s, d < 0.05 ? 1 : -1]
    }

    static func demonstrations(episodes: Int, seed: UInt64) throws -> Demonstrations {
        var eps: [Demonstrations.Episode] = []
        for k in 0 ..< episodes {
            var env = PointMass()
            var o = env.reset(seed: seed &+ UInt64(k))
            var obs: [Float] = [], act: [Float] = []
            var n = 0
            while true {
                let a = expert(o)
                obs += o
                act += a
                n += 1
                if env.step(a, observation: &o).done { break }
            }
            eps.append(.init(observations: obs, actions: act, length: n, success: env.gripperClosedNearGoal))
        }
        return try Demonstrations(observationSize: 4, actionSize: 3, episodes: eps)
    }
}

/// Runs `episodes` seeded episodes of PointMass and returns the success rate and the mean network evaluations per
/// inference call.
func evaluate(_ policy: Policy, episodes: Int, seed: UInt64, actionSteps: Int? = nil) -> (success: Double, evalsPerCall: Double) {
    let runner = PolicyRunner(policy: policy, actionSteps: actionSteps)
    var gen = RandomGenerator(seed: seed)
    var successes = 0, evals = 0, calls = 0
    var action = [Float](repeating: 0, count: 3)
    for k in 0 ..< episodes {
        var env = PointMass()
        var o = env.reset(seed: 10_000 &+ seed &+ UInt64(k))
        runner.reset()
        while true {
            if let info = runner.step(observation: o, action: &action, generator: &gen) {
                evals += info.networkEvaluations
                calls += 1
            }
            let out = env.step(action, observation: &o)
            if out.done {
                if out.success { successes += 1 }
                break
            }
        }
    }
    return (Double(successes) / Double(episodes), Double(evals) / Double(max(calls, 1)))
}

func pointMassConfig(kind: PolicyConfig.Kind, sampler: SamplerSpec? = nil, gripper: GripperConfig? = nil) throws -> PolicyConfig {
    PolicyConfig(kind: kind, observationSize: 4, actionSize: 3, nObsSteps: 2, horizon: 8, nActionSteps: 4,
                 normalization: .init(observation: .identity(size: 4), action: .identity(size: 3)),
                 network: .init(hiddenSizes: [256, 256, 256], activation: .mish, layerNorm: true, timeEmbeddingSize: 64),
                 gripper: gripper ?? GripperConfig(dims: [2], handling: .none),
                 scheduler: kind == .diffusion ? NoiseScheduler.Config() : nil,
                 sampler: kind == .diffusion ? (sampler ?? .ddpm(steps: nil)) : nil)
}
