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
        /// Per camera of `Demonstrations.cameras`, the frames seen with each observation: length × H × W × 3 uint8
        /// (empty without cameras).
        public var frames: [[UInt8]]

        public init(observations: [Float], actions: [Float], length: Int, success: Bool = true,
                    rewards: [Float] = [], seed: UInt64? = nil, frames: [[UInt8]] = []) {
            self.observations = observations
            self.actions = actions
            self.length = length
            self.success = success
            self.rewards = rewards
            self.seed = seed
            self.frames = frames
        }
    }

    /// A camera whose frames were recorded with the observations (`reflex collect --camera`).
    public struct Camera: Sendable, Equatable {
        /// Its placement, e.g. `front`.
        public var name: String
        /// The tensor holding its frames, e.g. `images.front`.
        public var tensor: String
        public var height: Int
        public var width: Int

        public init(name: String, tensor: String, height: Int, width: Int) {
            self.name = name
            self.tensor = tensor
            self.height = height
            self.width = width
        }

        /// Bytes per RGB frame.
        public var frameBytes: Int { height * width * 3 }
    }

    public var observationSize: Int
    public var actionSize: Int
    public var episodes: [Episode]
    /// The cameras every episode holds frames of, in the order of `Episode.frames`.
    public var cameras: [Camera]

    public init(observationSize: Int, actionSize: Int, episodes: [Episode], cameras: [Camera] = []) throws {
        for (i, e) in episodes.enumerated() {
            guard e.length > 0, e.observations.count == e.length * observationSize, e.actions.count == e.length * actionSize,
                  e.rewards.isEmpty || e.rewards.count == e.length else {
                throw ReflexError(.shapeMismatch,
                                  "episode \(i): \(e.observations.count) observation values and \(e.actions.count) action values for length \(e.length)")
            }
            guard e.frames.count == cameras.count,
                  zip(e.frames, cameras).allSatisfy({ $0.count == e.length * $1.frameBytes }) else {
                throw ReflexError(.shapeMismatch,
                                  "episode \(i): frames of \(e.frames.count) cameras (\(e.frames.map(\.count)) bytes) for \(e.length) steps of cameras \(cameras.map { "\($0.name) \($0.width)×\($0.height)" })")
            }
        }
        self.observationSize = observationSize
        self.actionSize = actionSize
        self.episodes = episodes
        self.cameras = cameras
    }

    /// Calls `body` with camera `camera`'s frame (H × W × 3 uint8) at step `index` of episode `e`.
    /// - Note: Real-time safe.
    @inline(__always)
    public func withFrame<R>(episode e: Int, index: Int, camera: Int, _ body: (UnsafePointer<UInt8>) -> R) -> R {
        let bytes = cameras[camera].frameBytes
        return episodes[e].frames[camera].withUnsafeBufferPointer { body($0.baseAddress! + index * bytes) }
    }

    /// These demonstrations with only the observation dimensions `kept` (indices, in the order given): how a policy
    /// is trained without some state inputs (the cube's pose, so it sees the cube only through a camera).
    public func keepingObservations(_ kept: [Int]) throws -> Demonstrations {
        guard !kept.isEmpty, kept.allSatisfy({ (0 ..< observationSize).contains($0) }) else {
            throw ReflexError(.invalidArgument, "observation indices \(kept) are not a non-empty subset of 0..<\(observationSize)")
        }
        let w = observationSize
        let narrowed = episodes.map { e -> Episode in
            var n = e
            n.observations = (0 ..< e.length).flatMap { r in kept.map { e.observations[r * w + $0] } }
            return n
        }
        return try Demonstrations(observationSize: kept.count, actionSize: actionSize, episodes: narrowed, cameras: cameras)
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
        return (try Demonstrations(observationSize: observationSize, actionSize: actionSize, episodes: Array(episodes.dropLast(n)),
                                   cameras: cameras),
                try Demonstrations(observationSize: observationSize, actionSize: actionSize, episodes: Array(episodes.suffix(n)),
                                   cameras: cameras))
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
