import ReflexCore
import ReflexHardware
import ReflexRobot
import ReflexRuntime
import ReflexSim

/// The task features of an arm on a bus with a camera channel (`reflex run --port … --camera PATH`, the daemon's
/// `arm.camera`), for policies trained on Reflex's lift task:
/// end-effector pose (7) from the forward kinematics of the joints read over the bus, the cube's pose (7) and the
/// goal (3) from the newest camera estimate. An estimate older than `maxAge`, or from another episode, is no
/// estimate: the provider says so and the loop holds, as the watchdog holds on stale joint state.
public final class CameraTaskFeatures: @unchecked Sendable {
    /// The task whose features a camera estimate completes.
    public static let task = TaskKind.lift
    /// Features per observation.
    public static var count: Int { task.featureCount }
    public let subscriber: CameraSubscriber
    public let maxAgeNanoseconds: UInt64
    private let chain: KinematicChain
    private var q: [Double]
    /// The episode whose estimates count (set before each episode; the loop thread only reads it).
    public var episode: UInt32 = 0

    public init(description: RobotDescription, subscriber: CameraSubscriber, maxAge: Double) throws {
        chain = try KinematicChain(robot: description)
        q = [Double](repeating: 0, count: description.joints.count)
        self.subscriber = subscriber
        maxAgeNanoseconds = UInt64(maxAge * 1e9)
    }

    /// The newest estimate of the current episode if it is fresh enough, else nil.
    /// - Note: Real-time safe.
    public func fresh(now: UInt64) -> CameraEstimate? {
        subscriber.poll()
        guard let e = subscriber.latest, e.episode == episode else { return nil }
        guard now <= e.captureTime || now - e.captureTime <= maxAgeNanoseconds else { return nil }
        return e
    }

    /// The feature provider for the observation builder.
    /// - Note: Real-time safe.
    public func features(_ state: JointState, _ out: UnsafeMutableBufferPointer<Float>) -> Bool {
        guard let e = fresh(now: monotonicNanoseconds()) else { return false }
        for i in 0 ..< q.count { q[i] = state.position[i] }
        let tip = chain.forward(q)
        let r = tip.rotation.bulletQuaternion
        out[0] = Float(tip.translation.x)
        out[1] = Float(tip.translation.y)
        out[2] = Float(tip.translation.z)
        out[3] = Float(r.x)
        out[4] = Float(r.y)
        out[5] = Float(r.z)
        out[6] = Float(r.w)
        out[7] = Float(e.position.x)
        out[8] = Float(e.position.y)
        out[9] = Float(e.position.z)
        out[10] = Float(e.orientation.x)
        out[11] = Float(e.orientation.y)
        out[12] = Float(e.orientation.z)
        out[13] = Float(e.orientation.w)
        out[14] = Float(e.goal.x)
        out[15] = Float(e.goal.y)
        out[16] = Float(e.goal.z)
        return true
    }
}
