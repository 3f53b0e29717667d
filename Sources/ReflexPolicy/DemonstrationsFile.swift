import ReflexCore

/// The on-disk demonstration format that `reflex collect` writes and `reflex train` reads, chosen so Python
/// reads it in five lines (docs/simulation.md):
///
/// - `DIR/demos.safetensors`: F32 `observations` [N, obs_dim], `actions` [N, act_dim], `rewards` [N], every
///   episode concatenated in order;
/// - `DIR/meta.json`: `{"format": "reflex-demonstrations", "version": 1, "robot", "task", "control_hz",
///   "observation_names", "action_names", "episodes": [{"seed", "length", "success", "return"}, …]}`; the episode
///   boundaries are the cumulative lengths (diffusion_policy's `episode_ends`);
/// - with cameras (`reflex collect --camera`), U8 `images.<name>` [N, H, W, 3] in the safetensors file and
///   `"cameras": [{"name", "tensor", "width", "height"}, …]` in meta.json.
extension Demonstrations {
    public static let formatName = "reflex-demonstrations"
    public static let formatVersion = 1

    /// What `meta.json` says besides the episodes.
    public struct Metadata: Sendable, Equatable {
        public var robot: String
        public var task: String
        public var controlHz: Double
        public var observationNames: [String]
        public var actionNames: [String]

        public init(robot: String, task: String, controlHz: Double, observationNames: [String], actionNames: [String]) {
            self.robot = robot
            self.task = task
            self.controlHz = controlHz
            self.observationNames = observationNames
            self.actionNames = actionNames
        }
    }

    /// Reads a demonstration directory. Every inconsistency (missing file or tensor, lengths that do not add up,
    /// widths that differ from the names) is an error naming the file.
    public static func load(directory: String) throws -> (demonstrations: Demonstrations, metadata: Metadata) {
        let metaPath = directory + "/meta.json", dataPath = directory + "/demos.safetensors"
        let bytes = try readFile(metaPath)
        let json: JSONValue
        do {
            json = try bytes.withUnsafeBufferPointer { try JSONParser.parse($0) }
        } catch let e as ReflexError {
            throw e.inFile(metaPath)
        }
        func fail(_ key: String, _ message: String) -> ReflexError {
            ReflexError(.invalidValue, message, at: .init(file: metaPath, keyPath: key))
        }
        guard json["format"]?.stringValue == formatName else {
            throw fail("format", "not a Reflex demonstration file (expected \"format\": \"\(formatName)\")")
        }
        guard let version = json["version"]?.numberValue, Int(version) == formatVersion else {
            throw fail("version", "unsupported version (this reader knows version \(formatVersion))")
        }
        func strings(_ key: String) throws -> [String] {
            guard let a = json[key]?.arrayValue else { throw fail(key, "missing or not an array") }
            return try a.map { guard let s = $0.stringValue else { throw fail(key, "names must be strings") }; return s }
        }
        let metadata = Metadata(robot: json["robot"]?.stringValue ?? "", task: json["task"]?.stringValue ?? "",
                                controlHz: json["control_hz"]?.numberValue ?? 0,
                                observationNames: try strings("observation_names"), actionNames: try strings("action_names"))
        guard let list = json["episodes"]?.arrayValue, !list.isEmpty else { throw fail("episodes", "missing or empty") }

        let file = try SafetensorsFile(path: dataPath)
        let observations = try file.tensor("observations"), actions = try file.tensor("actions")
        let rewards = file.contains("rewards") ? try file.tensor("rewards") : nil
        let obsSize = metadata.observationNames.count, actSize = metadata.actionNames.count
        guard observations.rank == 2, observations.shape[1] == obsSize, actions.rank == 2, actions.shape[1] == actSize,
              actions.shape[0] == observations.shape[0], rewards.map({ $0.count == observations.shape[0] }) ?? true else {
            throw ReflexError(.shapeMismatch,
                              "observations \(observations.shape), actions \(actions.shape), rewards \(rewards?.shape ?? []) do not match \(obsSize) observation and \(actSize) action names",
                              at: .init(file: dataPath))
        }
        let cameras = try readCameras(json, fail: fail)
        var cameraBytes: [[UInt8]] = []
        for c in cameras {
            let element = "tensor '\(c.tensor)' (camera '\(c.name)' of meta.json)"
            guard let entry = file.entry(c.tensor) else {
                throw ReflexError(.safetensorsMissingTensor, "meta.json lists camera '\(c.name)' but the file has no tensor '\(c.tensor)'",
                                  at: .init(file: dataPath, element: element))
            }
            let want = [observations.shape[0], c.height, c.width, 3]
            guard entry.dtype == .u8, entry.shape == want else {
                throw ReflexError(.shapeMismatch, "\(entry.dtype.rawValue) \(entry.shape); expected U8 \(want) (one \(c.width)×\(c.height) RGB frame per step)",
                                  at: .init(file: dataPath, element: element))
            }
            cameraBytes.append(try file.rawBytes(c.tensor))
        }
        var episodes: [Episode] = []
        var start = 0
        for (i, item) in list.enumerated() {
            guard let l = item["length"]?.numberValue, l >= 1, l == l.rounded() else {
                throw fail("episodes[\(i)].length", "must be a positive integer")
            }
            let length = Int(l)
            guard start + length <= observations.shape[0] else {
                throw fail("episodes[\(i)].length", "episodes add up to more than the \(observations.shape[0]) recorded steps")
            }
            let seed = item["seed"]?.numberValue.flatMap { $0 >= 0 ? UInt64(exactly: $0) : nil }
            let success: Bool
            if case let .bool(b)? = item["success"] { success = b } else { success = true }
            episodes.append(Episode(
                observations: Array(UnsafeBufferPointer(start: observations.data + start * obsSize, count: length * obsSize)),
                actions: Array(UnsafeBufferPointer(start: actions.data + start * actSize, count: length * actSize)),
                length: length, success: success,
                rewards: rewards.map { Array(UnsafeBufferPointer(start: $0.data + start, count: length)) } ?? [],
                seed: seed,
                frames: zip(cameras, cameraBytes).map { c, b in Array(b[start * c.frameBytes ..< (start + length) * c.frameBytes]) }))
            start += length
        }
        guard start == observations.shape[0] else {
            throw fail("episodes", "episode lengths add up to \(start) steps but the file holds \(observations.shape[0])")
        }
        return (try Demonstrations(observationSize: obsSize, actionSize: actSize, episodes: episodes, cameras: cameras), metadata)
    }

    /// meta.json's `cameras` list (absent: none).
    static func readCameras(_ json: JSONValue, fail: (String, String) -> ReflexError) throws -> [Camera] {
        guard let value = json["cameras"] else { return [] }
        guard let list = value.arrayValue else { throw fail("cameras", "must be a list of {name, tensor, width, height}") }
        var cameras: [Camera] = []
        for (i, item) in list.enumerated() {
            guard let name = item["name"]?.stringValue, !name.isEmpty else { throw fail("cameras[\(i)].name", "missing or not a string") }
            guard let w = item["width"]?.numberValue, let h = item["height"]?.numberValue, w >= 1, h >= 1,
                  w == w.rounded(), h == h.rounded(), w <= 4096, h <= 4096 else {
                throw fail("cameras[\(i)]", "width and height must be integers in 1…4096")
            }
            if cameras.contains(where: { $0.name == name }) { throw fail("cameras[\(i)].name", "camera '\(name)' listed twice") }
            cameras.append(Camera(name: name, tensor: item["tensor"]?.stringValue ?? "images.\(name)", height: Int(h), width: Int(w)))
        }
        return cameras
    }

    /// Writes the directory (both files atomically), the cameras' frames included (`reflex eval --record` of a camera
    /// policy; `reflex collect` writes its own as it records).
    public func save(to directory: String, metadata: Metadata) throws {
        guard metadata.observationNames.count == observationSize, metadata.actionNames.count == actionSize else {
            throw ReflexError(.shapeMismatch, "\(metadata.observationNames.count) observation names and \(metadata.actionNames.count) action names for widths \(observationSize) and \(actionSize)")
        }
        try makeDirectory(directory)
        let n = stepCount
        let obs = Tensor(zeros: [n, observationSize]), act = Tensor(zeros: [n, actionSize]), rew = Tensor(zeros: [n])
        var start = 0
        for e in episodes {
            (obs.data + start * observationSize).update(from: e.observations, count: e.observations.count)
            (act.data + start * actionSize).update(from: e.actions, count: e.actions.count)
            if !e.rewards.isEmpty { (rew.data + start).update(from: e.rewards, count: e.length) }
            start += e.length
        }
        try writeSafetensors([("observations", obs), ("actions", act), ("rewards", rew)],
                             bytes: cameras.indices.map { c in
                                 (cameras[c].tensor, [n, cameras[c].height, cameras[c].width, 3], episodes.map { $0.frames[c] })
                             }, to: directory + "/demos.safetensors")
        let items: [JSONValue] = episodes.map { e in
            var fields: [(key: String, value: JSONValue)] = []
            if let seed = e.seed { fields.append(("seed", .number(Double(seed)))) }
            fields.append(("length", .number(Double(e.length))))
            fields.append(("success", .bool(e.success)))
            fields.append(("return", .number(Double(e.rewards.reduce(0, +)))))
            return .object(fields)
        }
        var members: [(key: String, value: JSONValue)] = [
            ("format", .string(Self.formatName)), ("version", .number(Double(Self.formatVersion))),
            ("robot", .string(metadata.robot)), ("task", .string(metadata.task)),
            ("control_hz", .number(metadata.controlHz)),
            ("observation_names", .array(metadata.observationNames.map { .string($0) })),
            ("action_names", .array(metadata.actionNames.map { .string($0) })),
        ]
        if !cameras.isEmpty {
            members.append(("cameras", .array(cameras.map { c in
                .object([("name", .string(c.name)), ("tensor", .string(c.tensor)),
                         ("width", .number(Double(c.width))), ("height", .number(Double(c.height)))])
            })))
        }
        members.append(("episodes", .array(items)))
        let meta = JSONValue.object(members)
        try writeFileAtomically(Array(meta.serialized.utf8), to: directory + "/meta.json")
    }
}
