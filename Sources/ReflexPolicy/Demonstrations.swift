import ReflexCore

/// Recorded episodes to learn from: per step, the observation seen and the action taken.
public struct Demonstrations: Sendable {
    public struct Episode: Sendable {
        /// length × observationSize, row-major.
        public var observations: [Float]
        /// length × actionSize, row-major.
        public var actions: [Float]
        public var length: Int
        public var success: Bool
        /// Per-step rewards (empty when not recorded).
        public var rewards: [Float]
        /// The seed the episode's start was drawn from, when known.
        public var seed: UInt64?

        public init(observations: [Float], actions: [Float], length: Int, success: Bool = true,
                    rewards: [Float] = [], seed: UInt64? = nil) {
            self.observations = observations
            self.actions = actions
            self.length = length
            self.success = success
            self.rewards = rewards
            self.seed = seed
        }
    }

    public var observationSize: Int
    public var actionSize: Int
    public var episodes: [Episode]

    public init(observationSize: Int, actionSize: Int, episodes: [Episode]) throws {
        for (i, e) in episodes.enumerated() {
            guard e.length > 0, e.observations.count == e.length * observationSize, e.actions.count == e.length * actionSize,
                  e.rewards.isEmpty || e.rewards.count == e.length else {
                throw ReflexError(.shapeMismatch,
                                  "episode \(i): \(e.observations.count) observation values and \(e.actions.count) action values for length \(e.length)")
            }
        }
        self.observationSize = observationSize
        self.actionSize = actionSize
        self.episodes = episodes
    }

    public var stepCount: Int { episodes.reduce(0) { $0 + $1.length } }

    /// Per-dimension min and max over every step (LeRobot's dataset stats for MIN_MAX).
    public func ranges() -> (observationMin: [Float], observationMax: [Float], actionMin: [Float], actionMax: [Float]) {
        func range(_ values: KeyPath<Episode, [Float]>, _ width: Int) -> ([Float], [Float]) {
            var lo = [Float](repeating: .infinity, count: width), hi = [Float](repeating: -.infinity, count: width)
            for e in episodes {
                let v = e[keyPath: values]
                for r in 0 ..< e.length {
                    for d in 0 ..< width {
                        lo[d] = min(lo[d], v[r * width + d])
                        hi[d] = max(hi[d], v[r * width + d])
                    }
                }
            }
            return (lo, hi)
        }
        let (omin, omax) = range(\.observations, observationSize)
        let (amin, amax) = range(\.actions, actionSize)
        return (omin, omax, amin, amax)
    }

    /// Splits off the last `fraction` of episodes (at least one) as a held-out set.
    public func split(heldOut fraction: Double) throws -> (train: Demonstrations, heldOut: Demonstrations) {
        let n = max(1, min(episodes.count - 1, Int((Double(episodes.count) * fraction).rounded())))
        return (try Demonstrations(observationSize: observationSize, actionSize: actionSize, episodes: Array(episodes.dropLast(n))),
                try Demonstrations(observationSize: observationSize, actionSize: actionSize, episodes: Array(episodes.suffix(n))))
    }

    /// A training window ending at step `index` of `episode`: `nObs` observations (oldest first) and `horizon`
    /// actions starting at the oldest of them, indices clamped to the episode (LeRobot pads with edge frames).
    /// - Note: Real-time safe.
    public func window(episode e: Int, index i: Int, nObs: Int, horizon: Int,
                       observations: UnsafeMutablePointer<Float>, actions: UnsafeMutablePointer<Float>) {
        let ep = episodes[e]
        let start = i - nObs + 1
        ep.observations.withUnsafeBufferPointer { o in
            for k in 0 ..< nObs {
                let s = min(max(start + k, 0), ep.length - 1)
                (observations + k * observationSize).update(from: o.baseAddress! + s * observationSize, count: observationSize)
            }
        }
        ep.actions.withUnsafeBufferPointer { a in
            for k in 0 ..< horizon {
                let s = min(max(start + k, 0), ep.length - 1)
                (actions + k * actionSize).update(from: a.baseAddress! + s * actionSize, count: actionSize)
            }
        }
    }
}
