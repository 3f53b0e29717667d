// A rotation's quaternion with the sign Bullet (and so pybullet, and every policy trained on their observations)
// gives it.

extension Rotation3 {
    /// The unit quaternion (x, y, z, w) as btMatrix3x3::getRotation returns it: w > 0 when the trace is positive,
    /// otherwise the component of the largest diagonal entry > 0. `quaternion` keeps w ≥ 0 instead; the two differ
    /// by the overall sign, which matters to a policy that observes the quaternion: a gripper pointing down has
    /// w ≈ 0, so the w ≥ 0 convention flips the whole quaternion from one tick to the next.
    public var bulletQuaternion: (x: Double, y: Double, z: Double, w: Double) {
        let q = quaternion
        let pivot: Double
        if m.0 + m.4 + m.8 > 0 {
            pivot = q.w
        } else if m.0 < m.4 {
            pivot = m.4 < m.8 ? q.z : q.y
        } else {
            pivot = m.0 < m.8 ? q.z : q.x
        }
        return pivot < 0 ? (-q.x, -q.y, -q.z, -q.w) : q
    }
}
