import ReflexRobot
import ReflexCore

/// One tick's joint state and command, as a reader outside the loop sees it (the daemon's stream and status page).
public struct JointSample: Sendable, Codable, Equatable {
    /// The loop's tick index (nil when the sample was read with no loop running).
    public var tick: Int64?
    /// `monotonicNanoseconds()` of the tick's wake-up (or of the read).
    public var time: UInt64
    /// Measured positions (rad) and velocities (rad/s), description order.
    public var position: [Double]
    public var velocity: [Double]
    /// What the safety layer sent this tick (rad); nil when nothing was written (holding without a write, torque off,
    /// or no loop).
    public var command: [Double]?

    public init(tick: Int64?, time: UInt64, position: [Double], velocity: [Double], command: [Double]?) {
        self.tick = tick
        self.time = time
        self.position = position
        self.velocity = velocity
        self.command = command
    }
}

/// The loop publishes every tick's state and command here without waiting or allocating (a triple buffer of
/// preallocated slots); readers take the newest one. Readers are serialized by a lock among themselves (the triple
/// buffer has one consumer side), which the loop never takes.
public final class LoopSampleBuffer: @unchecked Sendable {
    final class Slot {
        let position: UnsafeMutableBufferPointer<Double>
        let velocity: UnsafeMutableBufferPointer<Double>
        let command: UnsafeMutableBufferPointer<Double>
        var commanded = false
        var tick: Int64 = 0
        var time: UInt64 = 0

        init(count: Int) {
            position = .allocate(capacity: count)
            velocity = .allocate(capacity: count)
            command = .allocate(capacity: count)
            position.initialize(repeating: 0)
            velocity.initialize(repeating: 0)
            command.initialize(repeating: 0)
        }

        deinit {
            position.deallocate()
            velocity.deallocate()
            command.deallocate()
        }
    }

    private let buffer: TripleBuffer<Slot>
    private let reader = PIMutex<JointSample?>(nil)

    init(joints: Int) {
        buffer = TripleBuffer { Slot(count: joints) }
    }

    /// Loop side.
    /// - Note: Real-time safe.
    func publish(state: JointState, command: JointCommand, commanded: Bool, tick: Int64, time: UInt64) {
        let s = buffer.writable
        _ = s.position.update(fromContentsOf: state.position)
        _ = s.velocity.update(fromContentsOf: state.velocity)
        _ = s.command.update(fromContentsOf: command.position)
        s.commanded = commanded
        s.tick = tick
        s.time = time
        buffer.publish()
    }

    /// The newest sample (the previous one again if the loop published nothing since), nil before the first tick.
    /// - Warning: Not real-time safe (it allocates the arrays it returns).
    public func latest() -> JointSample? {
        reader.withLock { last in
            if let s = buffer.consume() {
                last = JointSample(tick: s.tick, time: s.time, position: Array(s.position), velocity: Array(s.velocity),
                                   command: s.commanded ? Array(s.command) : nil)
            }
            return last
        }
    }
}
