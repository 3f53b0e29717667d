import ReflexCore

/// The last `n_obs_steps` observations, oldest first, as a policy's condition wants them. An episode starts by
/// filling every slot with its first observation (LeRobot pads the same way).
public final class ObservationHistory {
    public let steps: Int
    public let observationSize: Int
    /// steps × observationSize values, row-major, oldest first.
    public let values: Tensor
    public var data: UnsafeMutablePointer<Float> { values.data }

    public init(steps: Int, observationSize: Int) {
        self.steps = steps
        self.observationSize = observationSize
        values = Tensor(zeros: [steps, observationSize])
    }

    /// Every slot becomes `observation` (episode start).
    /// - Note: Real-time safe.
    public func fill(with observation: UnsafePointer<Float>) {
        for k in 0 ..< steps { (data + k * observationSize).update(from: observation, count: observationSize) }
    }

    /// Drops the oldest observation and appends `observation` as the newest.
    /// - Note: Real-time safe.
    public func push(_ observation: UnsafePointer<Float>) {
        let o = observationSize
        if steps > 1 { data.update(from: data + o, count: (steps - 1) * o) }
        (data + (steps - 1) * o).update(from: observation, count: o)
    }

    /// Drops the oldest observation and repeats the newest: a tick whose observation is stale or incomplete holds
    /// the last good one rather than feeding the policy what it could not read.
    /// - Note: Real-time safe.
    public func repeatNewest() {
        let o = observationSize
        if steps > 1 { data.update(from: data + o, count: (steps - 1) * o) }
    }
}
