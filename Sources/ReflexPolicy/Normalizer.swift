import ReflexCore

/// How a feature is normalized (LeRobot's `NormalizationMode`).
public enum NormalizationMode: String, Codable, Sendable {
    /// Passed through unchanged.
    case identity = "IDENTITY"
    /// y = 2 (x − min) / (max − min) − 1, into [−1, 1].
    case minMax = "MIN_MAX"
    /// y = (x − mean) / (std + ε).
    case meanStd = "MEAN_STD"
}

/// Per-dimension normalization of one feature (observation state, action, …), stored with a policy.
///
/// Follows LeRobot 0.4's processors: MIN_MAX substitutes ε = 1e-8 for a zero range, MEAN_STD adds ε to std.
/// `legacyMinMax` reproduces older LeRobot checkpoints, whose normalize module added ε to every range:
/// y = 2 (x − min) / (max − min + ε) − 1.
public struct Normalizer: Codable, Sendable, Equatable {
    public var mode: NormalizationMode
    /// min/max or mean/std, one value per dimension (unused ones empty).
    public var min: [Float]
    public var max: [Float]
    public var mean: [Float]
    public var std: [Float]
    public var epsilon: Float
    public var legacyMinMax: Bool

    /// y = (x − center) · scale + offset, precomputed. Subtracting the center first keeps a tiny range exact
    /// (the folded form x · scale + shift cancels catastrophically when the range is ε).
    private var center: [Float]
    private var scale: [Float]
    private var offset: Float

    private enum CodingKeys: String, CodingKey { case mode, min, max, mean, std, epsilon, legacyMinMax }

    public var size: Int { scale.count }

    public static func identity(size: Int) -> Normalizer {
        Normalizer(mode: .identity, min: [], max: [], mean: [], std: [], epsilon: 1e-8, legacyMinMax: false, size: size)
    }

    public static func minMax(min: [Float], max: [Float], epsilon: Float = 1e-8, legacy: Bool = false) throws -> Normalizer {
        guard min.count == max.count, !min.isEmpty else {
            throw ReflexError(.invalidValue, "min and max must be non-empty and the same length (\(min.count) vs \(max.count))")
        }
        return Normalizer(mode: .minMax, min: min, max: max, mean: [], std: [], epsilon: epsilon, legacyMinMax: legacy,
                          size: min.count)
    }

    public static func meanStd(mean: [Float], std: [Float], epsilon: Float = 1e-8) throws -> Normalizer {
        guard mean.count == std.count, !mean.isEmpty else {
            throw ReflexError(.invalidValue, "mean and std must be non-empty and the same length (\(mean.count) vs \(std.count))")
        }
        return Normalizer(mode: .meanStd, min: [], max: [], mean: mean, std: std, epsilon: epsilon, legacyMinMax: false,
                          size: mean.count)
    }

    private init(mode: NormalizationMode, min: [Float], max: [Float], mean: [Float], std: [Float], epsilon: Float,
                 legacyMinMax: Bool, size: Int) {
        self.mode = mode
        self.min = min
        self.max = max
        self.mean = mean
        self.std = std
        self.epsilon = epsilon
        self.legacyMinMax = legacyMinMax
        (center, scale, offset) = Normalizer.affine(mode: mode, min: min, max: max, mean: mean, std: std,
                                                    epsilon: epsilon, legacy: legacyMinMax, size: size)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let mode = try c.decode(NormalizationMode.self, forKey: .mode)
        let eps = try c.decodeIfPresent(Float.self, forKey: .epsilon) ?? 1e-8
        switch mode {
        case .identity:
            let size = try c.decodeIfPresent([Float].self, forKey: .min)?.count ?? 0
            self = .identity(size: size)
        case .minMax:
            self = try .minMax(min: c.decode([Float].self, forKey: .min), max: c.decode([Float].self, forKey: .max),
                               epsilon: eps, legacy: c.decodeIfPresent(Bool.self, forKey: .legacyMinMax) ?? false)
        case .meanStd:
            self = try .meanStd(mean: c.decode([Float].self, forKey: .mean), std: c.decode([Float].self, forKey: .std),
                                epsilon: eps)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(mode, forKey: .mode)
        switch mode {
        case .identity: break
        case .minMax:
            try c.encode(min, forKey: .min)
            try c.encode(max, forKey: .max)
            if legacyMinMax { try c.encode(true, forKey: .legacyMinMax) }
        case .meanStd:
            try c.encode(mean, forKey: .mean)
            try c.encode(std, forKey: .std)
        }
        try c.encode(epsilon, forKey: .epsilon)
    }

    private static func affine(mode: NormalizationMode, min: [Float], max: [Float], mean: [Float], std: [Float],
                               epsilon: Float, legacy: Bool, size: Int) -> ([Float], [Float], Float) {
        var center = [Float](repeating: 0, count: size), scale = [Float](repeating: 1, count: size)
        for i in 0 ..< size {
            switch mode {
            case .identity: break
            case .minMax:
                var range = max[i] - min[i]
                if legacy { range += epsilon } else if range == 0 { range = epsilon }
                center[i] = min[i]
                scale[i] = 2 / range
            case .meanStd:
                center[i] = mean[i]
                scale[i] = 1 / (std[i] + epsilon)
            }
        }
        return (center, scale, mode == .minMax ? -1 : 0)
    }

    /// Normalizes `rows` rows of `size` values in place.
    /// - Note: Real-time safe.
    public func normalize(_ x: UnsafeMutablePointer<Float>, rows: Int = 1) {
        guard mode != .identity else { return }
        let o = offset
        scale.withUnsafeBufferPointer { s in
            center.withUnsafeBufferPointer { c in
                for r in 0 ..< rows {
                    let p = x + r * s.count
                    for i in 0 ..< s.count { p[i] = (p[i] - c[i]) * s[i] + o }
                }
            }
        }
    }

    /// Inverts `normalize` in place.
    /// - Note: Real-time safe.
    public func unnormalize(_ y: UnsafeMutablePointer<Float>, rows: Int = 1) {
        guard mode != .identity else { return }
        let o = offset
        scale.withUnsafeBufferPointer { s in
            center.withUnsafeBufferPointer { c in
                for r in 0 ..< rows {
                    let p = y + r * s.count
                    for i in 0 ..< s.count { p[i] = (p[i] - o) / s[i] + c[i] }
                }
            }
        }
    }
}
