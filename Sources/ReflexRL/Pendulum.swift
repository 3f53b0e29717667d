#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ReflexCore

/// gymnasium's `Pendulum-v1`, step for step: θ̈ = 3g/(2l) sin θ + 3/(m l²) u with u clipped to ±2 N·m,
/// semi-implicit Euler with dt = 0.05 s, θ̇ clipped to ±8 rad/s, reward −(θ_n² + 0.1 θ̇² + 0.001 u²) with θ_n the
/// angle wrapped to [−π, π) (computed on the state *before* the step, as gymnasium does), observation
/// (cos θ, sin θ, θ̇), and the 200-step truncation that `gymnasium.make` adds with its `TimeLimit` wrapper.
///
/// Resets draw θ ~ U(−π, π), θ̇ ~ U(−1, 1) from Reflex's own generator seeded with `seed`: gymnasium's numpy
/// (PCG64) seeding is not reproduced, so trajectories match gymnasium's given the same initial state and actions
/// (the fixture `Tests/Fixtures/make_pendulum_fixture.py` checks that), not given the same seed.
public struct Pendulum: Environment, Sendable {
    public static let maxSpeed = 8.0
    public static let maxTorque = 2.0
    public static let dt = 0.05
    public static let gravity = 10.0
    public static let mass = 1.0
    public static let length = 1.0

    /// Angle from upright (rad) and angular velocity (rad/s).
    public private(set) var theta = 0.0
    public private(set) var thetaDot = 0.0
    /// Steps since the last reset.
    public private(set) var elapsedSteps = 0

    public let observationSpace = BoxSpace(low: [-1, -1, -Float(maxSpeed)], high: [1, 1, Float(maxSpeed)],
                                           names: ["cos_theta", "sin_theta", "theta_dot"])
    public let actionSpace = BoxSpace(symmetric: Float(maxTorque), size: 1, names: ["torque"])
    public let maxEpisodeSteps = 200

    public init() {}

    /// θ ~ U(−π, π), θ̇ ~ U(−1, 1) from a generator seeded with `seed`.
    /// - Note: Real-time safe.
    public mutating func reset(seed: UInt64, observation: inout [Float]) {
        var g = RandomGenerator(seed: seed)
        let th = g.uniform(-.pi, .pi)
        let thd = g.uniform(-1, 1)
        reset(theta: th, thetaDot: thd, observation: &observation)
    }

    /// Starts an episode from a given state (fixtures, tests, evaluation from recorded states).
    /// - Note: Real-time safe.
    public mutating func reset(theta: Double, thetaDot: Double, observation: inout [Float]) {
        self.theta = theta
        self.thetaDot = thetaDot
        elapsedSteps = 0
        observe(&observation)
    }

    /// - Note: Real-time safe.
    public mutating func step(_ action: [Float], observation: inout [Float]) -> StepOutcome {
        // gymnasium receives a float32 action, and NumPy 2's promotion keeps python-float × float32 products in
        // float32: the torque terms are rounded there before they meet the float64 state.
        let u = min(max(action[0], -Float(Pendulum.maxTorque)), Float(Pendulum.maxTorque))
        let wrapped = Pendulum.angleNormalize(theta)
        let cost = wrapped * wrapped + 0.1 * thetaDot * thetaDot + Double(Float(0.001) * (u * u))
        let g = Pendulum.gravity, m = Pendulum.mass, l = Pendulum.length, dt = Pendulum.dt
        let torque = Double(Float(3 / (m * l * l)) * u)
        var newThetaDot = thetaDot + (3 * g / (2 * l) * sin(theta) + torque) * dt
        newThetaDot = min(max(newThetaDot, -Pendulum.maxSpeed), Pendulum.maxSpeed)
        theta += newThetaDot * dt
        thetaDot = newThetaDot
        elapsedSteps += 1
        observe(&observation)
        return StepOutcome(reward: -cost, terminated: false, truncated: elapsedSteps >= maxEpisodeSteps)
    }

    /// ((x + π) mod 2π) − π with Python's floored modulo, so the result is in [−π, π).
    static func angleNormalize(_ x: Double) -> Double {
        var y = fmod(x + .pi, 2 * .pi)
        if y < 0 { y += 2 * .pi }
        return y - .pi
    }

    private func observe(_ o: inout [Float]) {
        o[0] = Float(cos(theta))
        o[1] = Float(sin(theta))
        o[2] = Float(thetaDot)
    }
}
