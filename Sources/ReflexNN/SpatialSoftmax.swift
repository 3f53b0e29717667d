#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CBridge
import ReflexCore

/// Spatial soft-argmax (Levine, Finn et al. 2016, "End-to-End Training of Deep Visuomotor Policies", §4.2; LeRobot's
/// `SpatialSoftmax`, ported from robomimic): an optional 1×1 convolution to K keypoint maps, a softmax over each
/// map's pixels, and the expected (x, y) under it on a grid from −1 to 1 (x along the width, y along the height).
public struct SpatialSoftmax: Sendable {
    /// The keypoint projection (`nets`), nil when the keypoints are the input channels.
    public let keypointProjection: Conv2d?
    public let inChannels: Int
    public let size: ImageSize
    /// H·W × 2: (x, y) of each pixel in row-major order, as LeRobot's `pos_grid` buffer.
    public let grid: Tensor

    /// Keypoints (output rows of 2 values each).
    public var keypoints: Int { keypointProjection?.outChannels ?? inChannels }
    /// Values per image: K × (x, y).
    public var outputSize: Int { 2 * keypoints }

    /// Reads `prefix.nets.weight`/`.bias` (when `keypoints` is set) and `prefix.pos_grid` (H·W × 2), the grid the
    /// checkpoint was saved with (LeRobot registers it as a buffer, so loading a state dict restores it).
    public init(_ prefix: String, inChannels: Int, size: ImageSize, keypoints: Int?, weights: WeightSource) throws {
        self.inChannels = inChannels
        self.size = size
        keypointProjection = try keypoints.map {
            try Conv2d(prefix + ".nets", in: inChannels, out: $0, kernel: 1, weights: weights)
        }
        grid = try weights(prefix + ".pos_grid", [size.pixels, 2])
    }

    /// The grid LeRobot builds: numpy's `linspace(-1, 1, n)` (i·step + start in double, the last value exactly 1),
    /// then rounded to float.
    public static func grid(_ size: ImageSize) -> Tensor {
        func linspace(_ n: Int) -> [Float] {
            guard n > 1 else { return [-1] }
            let step = 2.0 / Double(n - 1)
            return (0 ..< n).map { $0 == n - 1 ? 1 : Float(Double($0) * step + -1.0) }
        }
        let xs = linspace(size.width), ys = linspace(size.height)
        let g = Tensor(zeros: [size.pixels, 2])
        for h in 0 ..< size.height {
            for w in 0 ..< size.width {
                g.data[(h * size.width + w) * 2] = xs[w]
                g.data[(h * size.width + w) * 2 + 1] = ys[h]
            }
        }
        return g
    }

    /// Floats of scratch `evaluate` needs for `batch` maps (the keypoint maps).
    public func scratchCount(batch: Int) -> Int { keypointProjection == nil ? 0 : batch * size.pixels * keypoints }

    /// y (batch × K·2) from position-major maps x ((batch·H·W) × C_in). `scratch` needs `scratchCount` floats.
    /// - Note: Real-time safe.
    public func evaluate(_ x: UnsafePointer<Float>, batch: Int, scratch: UnsafeMutablePointer<Float>,
                         output y: UnsafeMutablePointer<Float>) {
        var maps = x
        if let keypointProjection {
            keypointProjection.evaluate(x, batch: batch, size: size, column: scratch, output: scratch)
            maps = UnsafePointer(scratch)
        }
        let k = keypoints, p = size.pixels, g = grid.data
        for b in 0 ..< batch {
            let m = maps + b * p * k
            for c in 0 ..< k {
                var top = -Float.infinity
                for i in 0 ..< p { top = max(top, m[i * k + c]) }
                var sum: Double = 0, ex: Double = 0, ey: Double = 0
                for i in 0 ..< p {
                    let e = Double(expf(m[i * k + c] - top))
                    sum += e
                    ex += e * Double(g[2 * i])
                    ey += e * Double(g[2 * i + 1])
                }
                y[(b * k + c) * 2] = Float(ex / sum)
                y[(b * k + c) * 2 + 1] = Float(ey / sum)
            }
        }
    }

    /// Training forward of the soft-argmax from keypoint maps ((batch·H·W) × K, position-major, the projection's
    /// output): writes the softmax over each map's pixels into `softmax` (same layout, kept for `backward`) and the
    /// expected (x, y) into y (batch × K·2). `grid` is H·W × 2.
    /// - Note: Real-time safe.
    public static func forward(maps: UnsafePointer<Float>, batch: Int, keypoints k: Int, grid: UnsafePointer<Float>,
                               pixels p: Int, softmax s: UnsafeMutablePointer<Float>, output y: UnsafeMutablePointer<Float>) {
        for b in 0 ..< batch {
            let m = maps + b * p * k, sb = s + b * p * k
            for c in 0 ..< k {
                var top = -Float.infinity
                for i in 0 ..< p { top = max(top, m[i * k + c]) }
                var sum = 0.0
                for i in 0 ..< p {
                    let e = expf(m[i * k + c] - top)
                    sb[i * k + c] = e
                    sum += Double(e)
                }
                let inv = Float(1 / sum)
                var ex = 0.0, ey = 0.0
                for i in 0 ..< p {
                    let v = sb[i * k + c] * inv
                    sb[i * k + c] = v
                    ex += Double(v * grid[2 * i])
                    ey += Double(v * grid[2 * i + 1])
                }
                y[(b * k + c) * 2] = Float(ex)
                y[(b * k + c) * 2 + 1] = Float(ey)
            }
        }
    }

    /// From dy (batch × K·2): d(map)ᵢ = sᵢ (gᵢ · dy − E[g] · dy), the softmax's Jacobian applied to the grid's
    /// projection; `y` is the forward's output (E[g]).
    /// - Note: Real-time safe.
    public static func backward(softmax s: UnsafePointer<Float>, output y: UnsafePointer<Float>,
                                outputGradient dy: UnsafePointer<Float>, batch: Int, keypoints k: Int,
                                grid: UnsafePointer<Float>, pixels p: Int, mapGradient dm: UnsafeMutablePointer<Float>) {
        for b in 0 ..< batch {
            let sb = s + b * p * k, db = dm + b * p * k
            for c in 0 ..< k {
                let o = (b * k + c) * 2
                let dx = dy[o], dyy = dy[o + 1]
                let centre = y[o] * dx + y[o + 1] * dyy
                for i in 0 ..< p { db[i * k + c] = sb[i * k + c] * (grid[2 * i] * dx + grid[2 * i + 1] * dyy - centre) }
            }
        }
    }
}
