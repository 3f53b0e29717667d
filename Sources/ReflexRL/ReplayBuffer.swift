import ReflexCore

/// Transitions (s, a, r, s′, terminal) in a preallocated ring, stored structure-of-arrays as `Float`, sampled
/// uniformly with a generator the caller passes in. Once full, the oldest transition is overwritten.
///
/// `terminal` is 1 only when the episode ended inside the task (`StepOutcome.terminated`); a time-limit
/// truncation is stored as non-terminal so the critic still bootstraps from s′ (Pardo et al. 2018).
public final class ReplayBuffer: @unchecked Sendable {
    public let observationSize: Int
    public let actionSize: Int
    public let capacity: Int
    /// Transitions held (≤ capacity).
    public private(set) var count = 0
    /// Ring index the next transition is written to.
    public private(set) var position = 0
    /// Transitions ever added (count saturates at capacity; this does not).
    public private(set) var added = 0

    public let observations: Tensor
    public let actions: Tensor
    public let rewards: Tensor
    public let nextObservations: Tensor
    public let terminals: Tensor

    public init(observationSize: Int, actionSize: Int, capacity: Int) {
        precondition(observationSize > 0 && actionSize > 0 && capacity > 0, "replay buffer sizes must be positive")
        self.observationSize = observationSize
        self.actionSize = actionSize
        self.capacity = capacity
        observations = Tensor(zeros: [capacity, observationSize])
        actions = Tensor(zeros: [capacity, actionSize])
        rewards = Tensor(zeros: [capacity])
        nextObservations = Tensor(zeros: [capacity, observationSize])
        terminals = Tensor(zeros: [capacity])
    }

    /// Stores one transition, overwriting the oldest when full.
    /// - Note: Real-time safe.
    public func add(observation: UnsafePointer<Float>, action: UnsafePointer<Float>, reward: Float,
                    nextObservation: UnsafePointer<Float>, terminal: Bool) {
        let i = position
        (observations.data + i * observationSize).update(from: observation, count: observationSize)
        (actions.data + i * actionSize).update(from: action, count: actionSize)
        rewards.data[i] = reward
        (nextObservations.data + i * observationSize).update(from: nextObservation, count: observationSize)
        terminals.data[i] = terminal ? 1 : 0
        position = (position + 1) % capacity
        count = min(count + 1, capacity)
        added += 1
    }

    /// Fills `batch` with `batch.size` transitions drawn uniformly (with replacement) from those held.
    /// - Note: Real-time safe.
    public func sample(into batch: ReplayBatch, generator: inout RandomGenerator) {
        precondition(count > 0, "sampling from an empty replay buffer")
        precondition(batch.observationSize == observationSize && batch.actionSize == actionSize, "batch layout differs")
        let o = observationSize, a = actionSize, w = o + a
        for r in 0 ..< batch.size {
            let i = generator.index(below: count)
            let sa = batch.observationActions.data + r * w
            sa.update(from: observations.data + i * o, count: o)
            (sa + o).update(from: actions.data + i * a, count: a)
            (batch.observations.data + r * o).update(from: observations.data + i * o, count: o)
            (batch.nextObservations.data + r * o).update(from: nextObservations.data + i * o, count: o)
            batch.rewards.data[r] = rewards.data[i]
            batch.terminals.data[r] = terminals.data[i]
        }
    }

    /// The held rows as named tensors for a checkpoint (views, not copies), with counters in `metadata`.
    public func namedState(prefix: String = "replay.") -> [(name: String, tensor: Tensor)] {
        let n = max(count, 1)
        return [(prefix + "observations", observations.rows(0 ..< n)), (prefix + "actions", actions.rows(0 ..< n)),
                (prefix + "rewards", rewards.rows(0 ..< n)), (prefix + "next_observations", nextObservations.rows(0 ..< n)),
                (prefix + "terminals", terminals.rows(0 ..< n))]
    }

    public func metadata(prefix: String = "replay.") -> [String: String] {
        [prefix + "count": String(count), prefix + "position": String(position), prefix + "added": String(added),
         prefix + "capacity": String(capacity)]
    }

    /// Restores what `namedState`/`metadata` saved; checks sizes against this buffer's layout. A buffer that never
    /// wrapped also loads into a larger one (a run extended past its first budget grows its buffer): its rows and
    /// their order are what the larger buffer would have held.
    public func load(from file: SafetensorsFile, prefix: String = "replay.") throws {
        func int(_ key: String) throws -> Int {
            guard let s = file.metadata[prefix + key], let v = Int(s), v >= 0 else {
                throw ReflexError(.invalidValue, "missing or bad '\(prefix + key)' in checkpoint metadata",
                                  at: .init(file: file.path))
            }
            return v
        }
        let n = try int("count"), pos = try int("position"), total = try int("added"), cap = try int("capacity")
        let grows = cap < capacity && total == n && pos == n % cap
        guard cap == capacity || grows, n <= cap, pos < cap, total >= n else {
            throw ReflexError(.shapeMismatch, "replay buffer of capacity \(cap) holding \(n) at \(pos) does not fit a buffer of capacity \(capacity)",
                              at: .init(file: file.path))
        }
        let rows = max(n, 1)
        for (name, width, dest) in [("observations", observationSize, observations), ("actions", actionSize, actions),
                                    ("rewards", 1, rewards), ("next_observations", observationSize, nextObservations),
                                    ("terminals", 1, terminals)] {
            let key = prefix + name
            guard let e = file.entry(key) else {
                throw ReflexError(.safetensorsMissingTensor, "missing replay tensor", at: .init(file: file.path, element: "tensor '\(key)'"))
            }
            guard e.elementCount == rows * width else {
                throw ReflexError(.shapeMismatch, "replay tensor has \(e.elementCount) values, expected \(rows * width)",
                                  at: .init(file: file.path, element: "tensor '\(key)'"))
            }
            dest.data.update(from: try file.tensor(key).data, count: rows * width)
        }
        count = n
        position = grows ? n % capacity : pos
        added = total
    }
}

/// One minibatch drawn from a `ReplayBuffer`, made once for a batch size. `observationActions` holds [s, a] rows,
/// the critic's input layout, so sampling writes it directly.
public final class ReplayBatch: @unchecked Sendable {
    public let size: Int
    public let observationSize: Int
    public let actionSize: Int
    /// size × (observation + action).
    public let observationActions: Tensor
    public let observations: Tensor
    public let nextObservations: Tensor
    public let rewards: Tensor
    public let terminals: Tensor

    public init(size: Int, observationSize: Int, actionSize: Int) {
        self.size = size
        self.observationSize = observationSize
        self.actionSize = actionSize
        observationActions = Tensor(zeros: [size, observationSize + actionSize])
        observations = Tensor(zeros: [size, observationSize])
        nextObservations = Tensor(zeros: [size, observationSize])
        rewards = Tensor(zeros: [size])
        terminals = Tensor(zeros: [size])
    }
}
