import ReflexCore

/// Finds the RTI start step k0 for a diffusion policy from held-out demonstrations.
///
/// The paper's contractivity argument, in short: one warm-started call maps a guess g to R_k0(g; o), the result of
/// k0+1 denoising steps from g under observation o. If that map is a contraction around the freshly sampled chunk
/// (its error shrinks by a factor below one each call) and the observation moves little between calls, the errors
/// of a recursive warm start stay bounded near the fixed point instead of accumulating. Larger k0 contracts more
/// (more steps, more noise to wash out the guess) and costs more evaluations. Calibration measures it rather than
/// deriving it: along each held-out episode (observations replayed from the data), it runs RTI recursively,
/// exactly as deployment would, and compares each warm-started chunk with a freshly, fully denoised chunk for the
/// same observation history. The answer is the smallest k0 whose mean distance stays within `tolerance`.
public struct RTICalibration {
    public struct Row: Codable, Sendable {
        /// First timestep of the schedule [k0, k0−1, …, 0].
        public var k0: Int
        /// Mean absolute difference (network space: normalized actions) between the warm-started chunk and a fresh
        /// full-chain chunk, over every call after the first of each episode.
        public var meanDistance: Double
        public var worstEpisodeDistance: Double
    }

    public struct Result: Codable, Sendable {
        public var rows: [Row]
        /// Mean distance between two independent fresh chunks for the same history: the sampling noise floor.
        public var freshToFresh: Double
        public var tolerance: Double
        /// The smallest k0 within tolerance, or nil if none of the candidates was.
        public var chosenK0: Int?
    }

    public var candidates: [Int]
    public var tolerance: Double
    public var variant: RTIVariant
    /// Actions executed per call (the shift).
    public var actionSteps: Int
    public var seed: UInt64

    public init(candidates: [Int] = [1, 2, 3, 5, 8, 12], tolerance: Double = 0.1, variant: RTIVariant = .official,
                actionSteps: Int = 1, seed: UInt64 = 0) {
        self.candidates = candidates
        self.tolerance = tolerance
        self.variant = variant
        self.actionSteps = actionSteps
        self.seed = seed
    }

    /// Runs the calibration over `episodes` of `data` (at most `maxCalls` calls per episode).
    public func run(policy: DiffusionPolicy, data: Demonstrations, episodes: Int, maxCalls: Int = 40) throws -> Result {
        let c = policy.config
        guard data.observationSize == c.observationSize else {
            throw ReflexError(.shapeMismatch, "demonstrations have observations of \(data.observationSize), the policy expects \(c.observationSize)")
        }
        let saved = policy.sampler
        defer { policy.sampler = saved }
        let n = c.horizon * c.actionSize
        let history = Tensor(zeros: [c.nObsSteps, c.observationSize])
        let actionScratch = Tensor(zeros: [c.horizon, c.actionSize])
        let episodeIndices = Array(data.episodes.indices.prefix(episodes))
        var fresh = [Float](repeating: 0, count: n), fresh2 = fresh
        var gen = RandomGenerator(seed: seed)

        // A fresh call leaves the warm start alone (only `commit` stores one), so it can interleave with RTI calls.
        func freshChunk(_ h: UnsafePointer<Float>, into out: inout [Float]) {
            policy.sampler = .ddpm(steps: nil)
            policy.sampleCandidates(history: h, count: 1, stepsExecuted: 0, generator: &gen)
            out.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: policy.candidate(0), count: n) }
        }
        func distance(_ a: UnsafePointer<Float>, _ b: [Float]) -> Double {
            var s = 0.0
            for i in 0 ..< n { s += Double(abs(a[i] - b[i])) }
            return s / Double(n)
        }

        // Sampling noise floor.
        var floor: [Double] = []
        for e in episodeIndices {
            data.window(episode: e, index: data.episodes[e].length / 2, nObs: c.nObsSteps, horizon: c.horizon,
                        observations: history.data, actions: actionScratch.data)
            freshChunk(history.data, into: &fresh)
            freshChunk(history.data, into: &fresh2)
            floor.append(fresh2.withUnsafeBufferPointer { distance($0.baseAddress!, fresh) })
        }

        var rows: [Row] = []
        var scratch = [Float](repeating: 0, count: n)
        for k0 in candidates.sorted() where k0 < (c.scheduler?.trainTimesteps ?? 100) {
            var all: [Double] = [], worst = 0.0
            for e in episodeIndices {
                var perEpisode: [Double] = []
                let length = data.episodes[e].length
                var calls = 0
                var i = 0
                policy.reset()
                while i < length && calls < maxCalls {
                    data.window(episode: e, index: i, nObs: c.nObsSteps, horizon: c.horizon,
                                observations: history.data, actions: actionScratch.data)
                    if calls > 0 { freshChunk(history.data, into: &fresh) }
                    policy.sampler = .rti(schedule: Array((0 ... k0).reversed()), variant: variant)
                    if calls == 0 { policy.reset() }
                    policy.sampleCandidates(history: history.data, count: 1, stepsExecuted: actionSteps, generator: &gen)
                    if calls > 0 { perEpisode.append(distance(policy.candidate(0), fresh)) }
                    scratch.withUnsafeMutableBufferPointer { policy.commit(candidate: 0, output: $0.baseAddress!) }
                    calls += 1
                    i += actionSteps
                }
                all += perEpisode
                worst = max(worst, Statistics.mean(perEpisode))
            }
            rows.append(Row(k0: k0, meanDistance: Statistics.mean(all), worstEpisodeDistance: worst))
        }
        let chosen = rows.first { $0.meanDistance <= tolerance }?.k0
        return Result(rows: rows, freshToFresh: Statistics.mean(floor), tolerance: tolerance, chosenK0: chosen)
    }
}
