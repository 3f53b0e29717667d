import ReflexCore

/// Weights computed from a tensor's name and shape, identically here and in the fixture scripts'
/// `deterministic_weights` (Python): a checkpoint too large to commit (a ResNet18 is 45 MB) is rebuilt bit for bit
/// at test time, while the fixture keeps only inputs and LeRobot's outputs.
///
/// value[i] = float32(center + halfWidth · (2u − 1)), u = ((fnv1a32(name) + i · 2654435761) mod 2³²) / 2³², in
/// double; (center, halfWidth) by the tensor's role: images, named `*.image` (0.5, 0.5), running_var (1, 0.5), running_mean (0, 0.1), other 1-D
/// weights (1, 0.2), biases (0, 0.1), N-D weights (0, √(6/fan_in)) (Kaiming uniform, so activations keep their scale).
public enum DeterministicWeights {
    public static func fnv1a(_ s: String) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in s.utf8 {
            h ^= UInt32(b)
            h = h &* 16_777_619
        }
        return h
    }

    public static func tensor(_ name: String, shape: [Int]) -> Tensor {
        let (center, half): (Double, Double)
        if name.hasSuffix(".image") {
            (center, half) = (0.5, 0.5)
        } else if name.hasSuffix(".running_var") {
            (center, half) = (1, 0.5)
        } else if name.hasSuffix(".running_mean") {
            (center, half) = (0, 0.1)
        } else if name.hasSuffix(".bias") {
            (center, half) = (0, 0.1)
        } else if shape.count == 1 {
            (center, half) = (1, 0.2)
        } else {
            (center, half) = (0, (6.0 / Double(shape.dropFirst().reduce(1, *))).squareRoot())
        }
        let t = Tensor(zeros: shape)
        let h = fnv1a(name)
        for i in 0 ..< t.count {
            let u = Double(h &+ UInt32(truncatingIfNeeded: i) &* 2_654_435_761) / 4_294_967_296.0
            t.data[i] = Float(center + half * (2 * u - 1))
        }
        return t
    }
}
