#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reflex's seeded generator: **xoshiro256\*\*** (Blackman & Vigna 2018, "Scrambled linear pseudorandom
/// number generators"), seeded through SplitMix64 so that nearby seeds give unrelated streams.
///
/// Gaussian draws use the Box–Muller transform and keep the second value of each pair for the next call;
/// that spare value is part of the state, so `state` / `init(state:)` resume a stream exactly.
/// Every random draw in Reflex comes from one of these, passed in by the caller.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    /// Everything needed to resume the stream bit for bit.
    public struct State: Codable, Equatable, Sendable {
        public var s: [UInt64]
        public var spareGaussian: Double?
        public init(s: [UInt64], spareGaussian: Double?) {
            self.s = s
            self.spareGaussian = spareGaussian
        }
    }

    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    private var spare: Double?

    /// A generator whose stream is a function of `seed` only.
    public init(seed: UInt64) {
        var sm = seed
        func splitMix() -> UInt64 {
            sm &+= 0x9E37_79B9_7F4A_7C15
            var z = sm
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix()
        s1 = splitMix()
        s2 = splitMix()
        s3 = splitMix()
        spare = nil
    }

    /// Resumes a saved stream. Throws on a state that is not four words or is all zero (xoshiro's one
    /// forbidden state).
    public init(state: State) throws {
        guard state.s.count == 4, state.s.contains(where: { $0 != 0 }) else {
            throw ReflexError(.invalidArgument, "a xoshiro256** state is four words, not all zero; got \(state.s)")
        }
        s0 = state.s[0]
        s1 = state.s[1]
        s2 = state.s[2]
        s3 = state.s[3]
        spare = state.spareGaussian
    }

    public var state: State { State(s: [s0, s1, s2, s3], spareGaussian: spare) }

    /// The next 64 random bits.
    /// - Note: Real-time safe.
    @inlinable
    public mutating func next() -> UInt64 { nextWord() }

    @usableFromInline
    mutating func nextWord() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// A new generator with an independent stream, derived from this one (for workers and sub-tasks).
    public mutating func split() -> RandomGenerator { RandomGenerator(seed: nextWord()) }

    /// Uniform in [0, 1) with 53 random bits.
    /// - Note: Real-time safe.
    public mutating func uniform() -> Double { Double(nextWord() >> 11) * 0x1.0p-53 }

    /// Uniform in [low, high).
    public mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * uniform() }

    /// Uniform Float in [0, 1) with 24 random bits.
    public mutating func uniformFloat() -> Float { Float(nextWord() >> 40) * 0x1.0p-24 }

    /// Standard normal N(0, 1), Box–Muller.
    /// - Note: Real-time safe.
    public mutating func gaussian() -> Double {
        if let z = spare {
            spare = nil
            return z
        }
        // u1 in (0, 1] so log(u1) is finite.
        let u1 = Double((nextWord() >> 11) + 1) * 0x1.0p-53
        let u2 = uniform()
        let r = (-2.0 * log(u1)).squareRoot()
        let theta = 2.0 * Double.pi * u2
        spare = r * sin(theta)
        return r * cos(theta)
    }

    /// N(mean, std²).
    public mutating func gaussian(mean: Double, std: Double) -> Double { mean + std * gaussian() }

    /// Fills `count` floats at `out` with N(0, 1) draws.
    /// - Note: Real-time safe.
    public mutating func fillGaussian(_ out: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0 ..< count { out[i] = Float(gaussian()) }
    }

    /// Fills a tensor with N(0, std²) draws.
    public mutating func fillGaussian(_ tensor: Tensor, std: Float = 1) {
        let p = tensor.data
        for i in 0 ..< tensor.count { p[i] = std * Float(gaussian()) }
    }

    /// Fills a tensor with uniform draws in [low, high).
    public mutating func fillUniform(_ tensor: Tensor, low: Float, high: Float) {
        let p = tensor.data
        for i in 0 ..< tensor.count { p[i] = low + (high - low) * uniformFloat() }
    }

    /// An integer uniform in 0 ..< bound (Lemire's nearly divisionless method, unbiased).
    /// - Note: Real-time safe.
    public mutating func index(below bound: Int) -> Int {
        precondition(bound > 0)
        return Int(next(upperBound: UInt64(bound)))
    }
}
