// How emulated servos move: a first-order motor by default, or anything else (the Bullet arm, for
// hardware-in-the-loop) that turns goal positions into present positions.

/// The motion of one emulated servo, in encoder ticks.
public struct ServoMotionState: Sendable, Equatable {
    /// The servo's id on the bus.
    public var id: UInt8
    /// Goal position (ticks), as last written.
    public var goal: Double
    /// Present position (ticks).
    public var position: Double
    /// Present velocity (ticks/s).
    public var velocity: Double
    /// Present load, in 0.1 % of the stall torque (signed).
    public var load: Double
    /// Torque enable as last written; with torque off the joint holds still (no gravity in this model).
    public var torqueEnabled: Bool
    /// Position limits (ticks) from the control table.
    public var minPosition: Double
    public var maxPosition: Double
    /// Encoder ticks per revolution.
    public var resolution: Int
}

/// Moves emulated servos toward their goals. The emulator calls it on its own thread, with the time elapsed
/// since the last call; a Bullet-backed model (hardware in the loop) steps its simulation here.
public protocol ServoModel: AnyObject {
    /// Advances every servo by `dt` seconds: read `goal`/`torqueEnabled`, update `position`/`velocity`/`load`.
    func advance(_ servos: inout [ServoMotionState], dt: Double)
}

/// A first-order position servo: velocity proportional to the position error (time constant `timeConstant`),
/// capped at `maxVelocity`, load proportional to the error. Enough for a bus to see plausible motion.
public final class FirstOrderMotorModel: ServoModel {
    public var timeConstant: Double
    /// Ticks per second (the STS3215 does about 50 rpm ≈ 3400 ticks/s unloaded).
    public var maxVelocity: Double

    public init(timeConstant: Double = 0.05, maxVelocity: Double = 3400) {
        self.timeConstant = timeConstant
        self.maxVelocity = maxVelocity
    }

    public func advance(_ servos: inout [ServoMotionState], dt: Double) {
        guard dt > 0 else { return }
        for k in servos.indices {
            var s = servos[k]
            if s.torqueEnabled {
                let goal = min(max(s.goal, s.minPosition), s.maxPosition)
                let error = goal - s.position
                // Exact discretisation of x' = (goal - x)/tau, then the speed cap.
                let alpha = 1 - (-dt / timeConstant).exp
                var step = error * alpha
                let cap = maxVelocity * dt
                step = min(max(step, -cap), cap)
                s.position += step
                s.velocity = step / dt
                s.load = min(max(error * 2, -1000), 1000)
            } else {
                s.velocity = 0
                s.load = 0
            }
            servos[k] = s
        }
    }
}

extension Double {
    fileprivate var exp: Double {
        #if canImport(Glibc)
        return Glibc.exp(self)
        #else
        return Darwin.exp(self)
        #endif
    }
}
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
