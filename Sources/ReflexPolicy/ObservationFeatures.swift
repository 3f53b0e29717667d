import ReflexCore

/// One input tensor of a prediction request as the client sent it: uint8 images (H × W × C, as cameras and
/// `reflex collect` give them) or floats (state, or C × H × W images in [0, 1] as LeRobot's pipeline has them).
public struct FeatureTensor: Sendable, Equatable {
    public enum Values: Sendable, Equatable {
        case uint8([UInt8])
        case float([Float])
    }

    public var shape: [Int]
    public var values: Values

    public init(shape: [Int], values: Values) {
        self.shape = shape
        self.values = values
    }

    /// Reads `name` from a safetensors file: U8 as bytes, F32/F16/BF16/F64 as floats; other dtypes are refused.
    public init(_ file: SafetensorsFile, _ name: String) throws {
        guard let e = file.entry(name) else {
            throw ReflexError(.safetensorsMissingTensor, "no tensor named '\(name)'", at: .init(file: file.path))
        }
        shape = e.shape
        switch e.dtype {
        case .u8: values = .uint8(try file.rawBytes(name))
        case .f32, .f16, .bf16, .f64: values = .float(try file.tensor(name).scalars)
        default:
            throw ReflexError(.invalidValue, "\(name) is \(e.dtype.rawValue): images are U8 (H, W, 3) or F32 (3, H, W) in [0, 1], states are F32")
        }
    }

    var dtypeName: String {
        if case .uint8 = values { return "U8" }
        return "F32"
    }
}

/// What a policy reads per prediction, named as LeRobot names its features: `observation.state` (and
/// `observation.environment_state`), `observation.image` or `observation.images.<camera>` — for a Reflex camera policy
/// `observation.images.<camera name in policy.yaml>`. It owns the buffers the request is decoded into (made once),
/// so decoding a request and feeding the policy allocate nothing after set-up.
///
/// Two homes for a frame: a LeRobot policy (diffusion or ACT) takes each camera as C × H × W floats inside its raw
/// observation row (`history`); a Reflex camera policy takes an H × W × 3 uint8 frame (`CameraDiffusionPolicy.setFrame`).
/// uint8 → float divides by 255 (torchvision's `to_tensor`, and `PortablePixmap`); float → uint8 rounds x · 255 as
/// `PolicyPrediction.rgbFrame` does, so a request and `reflex predict --image` give the same numbers.
public final class ObservationFeatures {
    /// A vector input (state or environment state) and where it sits in a history row.
    public struct Vector: Sendable {
        public let name: String
        public let size: Int
        public let offset: Int
    }

    /// A camera input: its feature name, image shape and where its frame goes.
    public struct Camera: Sendable {
        public let name: String
        public let channels: Int
        public let height: Int
        public let width: Int
        /// Offset of its C × H × W floats in a history row; nil for a Reflex camera policy (a uint8 frame of its own).
        public let rowOffset: Int?
        /// The camera's name without the `observation.images.` prefix.
        public var shortName: String {
            name.hasPrefix(ObservationFeatures.imagePrefix) ? String(name.dropFirst(ObservationFeatures.imagePrefix.count)) : name
        }
    }

    public static let imagePrefix = "observation.images."
    public static let stateKey = "observation.state"
    public static let environmentStateKey = "observation.environment_state"

    /// Observation steps per prediction (n_obs_steps), oldest first.
    public let steps: Int
    /// Raw values per history row (the policy's `observationSize`).
    public let rowSize: Int
    public let vectors: [Vector]
    public let cameras: [Camera]
    /// steps × rowSize raw values: what `predictChunk(history:)` reads.
    public let history: UnsafeMutablePointer<Float>
    private let frames: [UnsafeMutablePointer<UInt8>]
    private let known: Set<String>
    /// Which cameras got an image since `clearImages()`.
    public private(set) var imageSet: [Bool]

    /// The non-image values of one step (state, then environment state).
    public var stateSize: Int { vectors.reduce(0) { $0 + $1.size } }

    /// The inputs of `policy`: a Reflex camera policy, a LeRobot diffusion or ACT checkpoint, or any other policy
    /// (one vector `observation.state` of its observation size).
    public init(policy: Policy) {
        let c = policy.config
        steps = c.nObsSteps
        rowSize = c.observationSize
        var vectors: [Vector] = [], cameras: [Camera] = []
        func lerobot(state: LeRobotFeature?, images: [(name: String, feature: LeRobotFeature)], environment: LeRobotFeature?) {
            var o = 0
            if let s = state { vectors.append(Vector(name: Self.stateKey, size: s.size, offset: o)); o += s.size }
            for (name, f) in images {
                cameras.append(Camera(name: name, channels: f.shape[0], height: f.shape[1], width: f.shape[2], rowOffset: o))
                o += f.size
            }
            if let e = environment { vectors.append(Vector(name: Self.environmentStateKey, size: e.size, offset: o)) }
        }
        if let p = policy as? CameraDiffusionPolicy {
            vectors = [Vector(name: Self.stateKey, size: c.observationSize, offset: 0)]
            cameras = (p.config.cameras ?? []).map {
                Camera(name: Self.imagePrefix + $0.name, channels: $0.encoder.inChannels, height: $0.encoder.imageHeight,
                       width: $0.encoder.imageWidth, rowOffset: nil)
            }
        } else if let p = policy as? LeRobotACTPolicy {
            let lc = p.checkpoint.config
            lerobot(state: lc.stateFeature, images: lc.imageFeatures, environment: lc.environmentStateFeature)
        } else if let p = policy as? LeRobotDiffusionPolicy {
            let lc = p.checkpoint.config
            lerobot(state: lc.stateFeature, images: lc.imageFeatures, environment: lc.environmentStateFeature)
        } else {
            vectors = [Vector(name: Self.stateKey, size: c.observationSize, offset: 0)]
        }
        self.vectors = vectors
        self.cameras = cameras
        known = Set(vectors.map(\.name) + cameras.map(\.name))
        history = .allocate(capacity: max(steps * rowSize, 1))
        history.initialize(repeating: 0, count: max(steps * rowSize, 1))
        frames = cameras.map { cam in
            let n = cam.rowOffset == nil ? cam.height * cam.width * cam.channels : 1
            let p = UnsafeMutablePointer<UInt8>.allocate(capacity: n)
            p.initialize(repeating: 0, count: n)
            return p
        }
        imageSet = [Bool](repeating: false, count: cameras.count)
    }

    deinit {
        history.deallocate()
        for f in frames { f.deallocate() }
    }

    /// The camera called `name`: its feature name (`observation.images.top`) or its short name (`top`).
    public func cameraIndex(_ name: String) -> Int? {
        cameras.firstIndex { $0.name == name || $0.shortName == name }
    }

    public func clearImages() {
        for i in imageSet.indices { imageSet[i] = false }
    }

    /// The camera names, for messages.
    var cameraList: String { cameras.isEmpty ? "none" : cameras.map(\.name).joined(separator: ", ") }

    /// Sets camera `camera`'s image from an H × W × C uint8 frame, for observation step `step` (nil: every step,
    /// as LeRobot's queue repeats the first observation).
    /// - Note: Real-time safe.
    public func setImage(camera k: Int, rgb: UnsafePointer<UInt8>, step: Int? = nil) {
        let cam = cameras[k]
        let pixels = cam.height * cam.width, ch = cam.channels
        if let offset = cam.rowOffset {
            for s in step.map({ $0 ..< $0 + 1 }) ?? 0 ..< steps {
                let row = history + s * rowSize + offset
                for p in 0 ..< pixels { for c in 0 ..< ch { row[c * pixels + p] = Float(rgb[p * ch + c]) / 255 } }
            }
        } else if step == nil || step == steps - 1 { // a Reflex camera policy sees the newest frame only
            frames[k].update(from: rgb, count: pixels * ch)
        }
        imageSet[k] = true
    }

    /// Sets camera `camera`'s image from C × H × W floats in [0, 1] (LeRobot's layout), for step `step` (nil: all).
    /// - Note: Real-time safe.
    public func setImage(camera k: Int, chw: UnsafePointer<Float>, step: Int? = nil) {
        let cam = cameras[k]
        let pixels = cam.height * cam.width, ch = cam.channels
        if let offset = cam.rowOffset {
            for s in step.map({ $0 ..< $0 + 1 }) ?? 0 ..< steps {
                (history + s * rowSize + offset).update(from: chw, count: pixels * ch)
            }
        } else if step == nil || step == steps - 1 {
            let f = frames[k]
            for p in 0 ..< pixels { for c in 0 ..< ch { f[p * ch + c] = PolicyPrediction.quantize(chw[c * pixels + p]) } }
        }
        imageSet[k] = true
    }

    /// Sets the non-image values: `count` = steps × stateSize (oldest first) or stateSize (repeated over the steps);
    /// each step is [state, environment state].
    public func setState(_ values: UnsafePointer<Float>, count: Int) throws {
        let n = stateSize
        guard count == n || count == steps * n else {
            throw ReflexError(.shapeMismatch, "the state has \(count) values; the policy takes \(n) per step (\(vectors.map { "\($0.name) \($0.size)" }.joined(separator: ", "))) or \(steps) × \(n)")
        }
        for i in 0 ..< count where !values[i].isFinite {
            throw ReflexError(.invalidValue, "state value \(i) is not finite (\(values[i]))")
        }
        for s in 0 ..< steps {
            var src = values + (count == n ? 0 : s * n)
            for v in vectors {
                (history + s * rowSize + v.offset).update(from: src, count: v.size)
                src += v.size
            }
        }
    }

    /// Decodes a request's named tensors into the history and frames, every one checked: vectors [S] or [T, S]
    /// (T = n_obs_steps), images U8 [H, W, C] or [T, H, W, C], or F32 [C, H, W] or [T, C, H, W] with values in [0, 1];
    /// T = 1 is repeated over the steps. Every camera needs an image; unknown names are refused.
    public func fill(_ inputs: [String: FeatureTensor]) throws {
        for name in inputs.keys where !known.contains(name) {
            let unknown = inputs.keys.filter { !known.contains($0) }.sorted()
            throw ReflexError(.invalidArgument, "unknown input '\(unknown[0])': the policy reads \(vectors.map(\.name).joined(separator: ", ")) and cameras \(cameraList)"
                              + (name.hasPrefix(Self.imagePrefix) ? "" : " (send either 'observation', the raw row, or these named inputs)"))
        }
        clearImages()
        func find(_ name: String) -> FeatureTensor? { inputs[name] }
        for v in vectors {
            guard let t = find(v.name) else {
                throw ReflexError(.invalidArgument, "input '\(v.name)' is missing (\(v.size) values per step)")
            }
            guard case let .float(values) = t.values else {
                throw ReflexError(.invalidValue, "\(v.name) is U8; it must be float (F32)")
            }
            let n = t.shape.reduce(1, *)
            guard n == v.size || (n == steps * v.size && t.shape.first == steps) else {
                throw ReflexError(.shapeMismatch, "\(v.name) has shape \(t.shape); the policy needs [\(v.size)] or [\(steps), \(v.size)]")
            }
            for (i, x) in values.enumerated() where !x.isFinite {
                throw ReflexError(.invalidValue, "\(v.name) value \(i) is not finite (\(x))")
            }
            for s in 0 ..< steps {
                let row = n == v.size ? 0 : s
                values.withUnsafeBufferPointer { (history + s * rowSize + v.offset).update(from: $0.baseAddress! + row * v.size, count: v.size) }
            }
        }
        for (k, cam) in cameras.enumerated() {
            guard let t = find(cam.name) else {
                throw ReflexError(.invalidArgument, "camera '\(cam.name)' has no image: send \(cam.name) as U8 [\(cam.height), \(cam.width), \(cam.channels)] (the policy's cameras: \(cameraList))")
            }
            let frame = cam.height * cam.width * cam.channels
            switch t.values {
            case let .uint8(bytes):
                let frames = try frameCount(t.shape, cam.height, cam.width, cam.channels, name: cam.name, dtype: "U8", layout: "H, W, C")
                bytes.withUnsafeBufferPointer { b in
                    for f in 0 ..< frames { setImage(camera: k, rgb: b.baseAddress! + f * frame, step: frames == 1 ? nil : f) }
                }
            case let .float(values):
                let frames = try frameCount(t.shape, cam.channels, cam.height, cam.width, name: cam.name, dtype: "F32", layout: "C, H, W")
                for (i, x) in values.enumerated() where !(x >= 0 && x <= 1) {
                    throw ReflexError(.invalidValue, "\(cam.name) value \(i) is \(x): float images hold values in [0, 1] (NaN refused; send U8 for 0…255)")
                }
                values.withUnsafeBufferPointer { b in
                    for f in 0 ..< frames { setImage(camera: k, chw: b.baseAddress! + f * frame, step: frames == 1 ? nil : f) }
                }
            }
        }
    }

    /// 1 for an image [a, b, c], or T for [T, a, b, c] with T = 1 or n_obs_steps; a wrong shape is refused with the
    /// one expected. (Compared element by element: nothing allocated on the way.)
    private func frameCount(_ shape: [Int], _ a: Int, _ b: Int, _ c: Int, name: String, dtype: String, layout: String) throws -> Int {
        if shape.count == 3, shape[0] == a, shape[1] == b, shape[2] == c { return 1 }
        if shape.count == 4, shape[1] == a, shape[2] == b, shape[3] == c, shape[0] == 1 || shape[0] == steps { return shape[0] }
        let dims = "\(a), \(b), \(c)"
        throw ReflexError(.shapeMismatch, "\(name) is \(dtype) \(shape); the camera needs \(dtype) [\(dims)] (\(layout))"
                          + (steps > 1 ? " or [\(steps), \(dims)]" : " or [1, \(dims)]"))
    }

    /// Hands the frames to a Reflex camera policy (its encoders run here); a no-op for a policy whose images are in
    /// the history row. Refused when a camera has had no image since `clearImages()`.
    /// - Note: Real-time safe once every camera is set.
    public func apply(to policy: Policy) throws {
        if let k = imageSet.firstIndex(of: false) {
            throw ReflexError(.invalidArgument, "camera '\(cameras[k].name)' has no image (the policy's cameras: \(cameraList))")
        }
        guard let p = policy as? CameraDiffusionPolicy else { return }
        // `cameras` is in policy.yaml's order (init), the policy's camera indices.
        for k in cameras.indices { p.setFrame(camera: k, frame: frames[k]) }
    }
}
