import ReflexCore
import ReflexRobot

/// Maps a robot's state (and task features) to a policy's observation vector, in a fixed layout:
/// `[joint positions][joint velocities][features]`, each part present when the policy was trained with it.
/// Task features (a cube's pose, a goal) come from a provider closure: the simulator on `--sim`, a camera's
/// estimator on a real arm.
public final class ObservationBuilder: @unchecked Sendable {
    /// Fills `featureCount` values; called once per tick, so it must be real-time safe. Returns false when the
    /// features are not available this tick (missing, or older than the estimator allows): the loop then repeats
    /// the previous observation and holds position, as for stale joint state — acting on a scene it cannot see
    /// is flying blind.
    public typealias FeatureProvider = (UnsafeMutableBufferPointer<Float>) -> Bool
    /// A provider that also sees this tick's measured joint state, e.g. to put the end effector's forward
    /// kinematics next to a camera's object estimate.
    public typealias StateFeatureProvider = (JointState, UnsafeMutableBufferPointer<Float>) -> Bool

    public let jointCount: Int
    public let includePositions: Bool
    public let includeVelocities: Bool
    public let featureCount: Int
    private let features: StateFeatureProvider?
    /// Whether the provider delivered this tick's features (false: missing or stale; the loop holds).
    public private(set) var featuresAvailable = true
    private let featureBuffer: UnsafeMutableBufferPointer<Float>

    public convenience init(jointCount: Int, includePositions: Bool = true, includeVelocities: Bool = false,
                            featureCount: Int = 0, features: FeatureProvider? = nil) throws {
        try self.init(jointCount: jointCount, includePositions: includePositions, includeVelocities: includeVelocities,
                      featureCount: featureCount, stateFeatures: features.map { f in { _, out in f(out) } })
    }

    public init(jointCount: Int, includePositions: Bool = true, includeVelocities: Bool = false, featureCount: Int = 0,
                stateFeatures features: StateFeatureProvider?) throws {
        guard featureCount == 0 || features != nil else {
            throw ReflexError(.invalidArgument, "\(featureCount) task features but no provider")
        }
        self.jointCount = jointCount
        self.includePositions = includePositions
        self.includeVelocities = includeVelocities
        self.featureCount = featureCount
        self.features = features
        featureBuffer = .allocate(capacity: max(featureCount, 1))
        featureBuffer.initialize(repeating: 0)
    }

    deinit { featureBuffer.deallocate() }

    /// Length of the observation vector.
    public var size: Int { (includePositions ? jointCount : 0) + (includeVelocities ? jointCount : 0) + featureCount }

    /// Writes the observation into `output` (`size` values). Returns false if any value is not finite or the
    /// features were unavailable; `output` is then unspecified.
    /// - Note: Real-time safe.
    public func build(from state: JointState, into output: UnsafeMutablePointer<Float>) -> Bool {
        var k = 0
        var ok = true
        if includePositions {
            for i in 0 ..< jointCount {
                let v = state.position[i]
                ok = ok && v.isFinite
                output[k] = Float(v)
                k += 1
            }
        }
        if includeVelocities {
            for i in 0 ..< jointCount {
                let v = state.velocity[i]
                ok = ok && v.isFinite
                output[k] = Float(v)
                k += 1
            }
        }
        if featureCount > 0, let features {
            let view = UnsafeMutableBufferPointer(rebasing: featureBuffer[0 ..< featureCount])
            featuresAvailable = features(state, view)
            ok = featuresAvailable && ok
            for j in 0 ..< featureCount {
                ok = ok && view[j].isFinite
                output[k] = view[j]
                k += 1
            }
        }
        return ok
    }
}

/// Maps a policy's action vector to joint position targets: joint `i` takes action dimension `source[i]`, scaled
/// and offset (`scale · a + offset`), e.g. a gripper trained on a [−1, 1] open/close command driven as a joint.
public struct ActionMap: Sendable, Equatable {
    public var source: [Int]
    public var scale: [Double]
    public var offset: [Double]

    public init(source: [Int], scale: [Double]? = nil, offset: [Double]? = nil) {
        self.source = source
        self.scale = scale ?? Array(repeating: 1, count: source.count)
        self.offset = offset ?? Array(repeating: 0, count: source.count)
    }

    /// Action dimension `i` drives joint `i`.
    public static func identity(_ joints: Int) -> ActionMap { ActionMap(source: Array(0 ..< joints)) }

    /// Checks the map fits `joints` joints and `actionSize` action values.
    public func validate(joints: Int, actionSize: Int) throws {
        guard source.count == joints, scale.count == joints, offset.count == joints else {
            throw ReflexError(.shapeMismatch, "action map covers \(source.count) joints, the robot has \(joints)")
        }
        for (i, s) in source.enumerated() where s < 0 || s >= actionSize {
            throw ReflexError(.shapeMismatch, "action map: joint \(i) reads action dimension \(s), the policy has \(actionSize)")
        }
    }

    /// Writes joint targets for `action`.
    /// - Note: Real-time safe.
    @inline(__always)
    public func apply(_ action: UnsafePointer<Float>, into targets: UnsafeMutablePointer<Double>) {
        for i in 0 ..< source.count { targets[i] = scale[i] * Double(action[source[i]]) + offset[i] }
    }
}
