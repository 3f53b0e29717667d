import ReflexCore
import ReflexNN
import ReflexRL

/// What `value.yaml` holds: the twin critics' shape and how they were trained.
public struct ValueFunctionConfig: Codable, Sendable, Equatable {
    public var stateSize: Int
    public var actionSize: Int
    public var hiddenSizes: [Int]
    public var activation: Activation
    public var layerNorm: Bool
    /// Discount per control step used for the chunk-level targets.
    public var gamma: Float
    /// The offline learner that made the critics; files written before Cal-QL existed were IQL's.
    public var algorithm: ValueAlgorithm?
    public var notes: [String: String]?

    public init(stateSize: Int, actionSize: Int, hiddenSizes: [Int], activation: Activation, layerNorm: Bool,
                gamma: Float, algorithm: ValueAlgorithm? = nil, notes: [String: String]? = nil) {
        self.stateSize = stateSize
        self.actionSize = actionSize
        self.hiddenSizes = hiddenSizes
        self.activation = activation
        self.layerNorm = layerNorm
        self.gamma = gamma
        self.algorithm = algorithm
        self.notes = notes
    }

    var criticConfig: MLPConfig {
        MLPConfig(inputSize: stateSize + actionSize, hiddenSizes: hiddenSizes, outputSize: 1, activation: activation,
                  layerNorm: layerNorm)
    }
}

/// A V-GPS value function on disk: `value.yaml` + `value.safetensors` (the twin target critics, `critic0.*`,
/// `critic1.*`), the pair V-GPS scores with.
public enum ValueFunctionDirectory {
    public static let configFile = "value.yaml"
    public static let weightsFile = "value.safetensors"

    public static func save(_ learner: some OfflineValueLearner, algorithm: ValueAlgorithm, gamma: Float,
                            notes: [String: String]? = nil, to directory: String) throws {
        let critic = learner.criticConfig
        let config = ValueFunctionConfig(stateSize: learner.stateSize, actionSize: learner.actionSize,
                                         hiddenSizes: critic.hiddenSizes, activation: critic.activation,
                                         layerNorm: critic.layerNorm, gamma: gamma, algorithm: algorithm, notes: notes)
        try makeDirectory(directory)
        let yaml = "# Reflex V-GPS value function: twin critics Q(s, a) over the policy's condition and executed chunk.\n"
            + (try YAMLEncoder().encode(config))
        try writeFileAtomically(Array(yaml.utf8), to: directory + "/" + configFile)
        let tensors = learner.targets.enumerated().flatMap { i, c in c.namedParameters(prefix: "critic\(i).") }
        try writeSafetensors(tensors, to: directory + "/" + weightsFile, metadata: ["format": "reflex-value"])
    }

    public static func readConfig(_ directory: String) throws -> ValueFunctionConfig {
        guard isDirectory(directory) else {
            throw ReflexError(.fileNotFound, "value function directory does not exist", at: .init(file: directory))
        }
        return try YAMLDecoder().decode(ValueFunctionConfig.self, fromFile: directory + "/" + configFile)
    }

    /// Loads the critics as a reranker for up to `maxCandidates` candidates.
    public static func load(_ directory: String, maxCandidates: Int, selection: CandidateSelection = .argmax) throws -> ValueReranker {
        let config = try readConfig(directory)
        let file = try SafetensorsFile(path: directory + "/" + weightsFile)
        let mlp = config.criticConfig
        let critics = try (0 ..< 2).map { i -> MLP in
            let net = MLP(config: mlp, parameters: Tensor(zeros: [MLP.layout(for: mlp).count]))
            try net.layout.load(into: net.parameters, from: file, prefix: "critic\(i).")
            return net
        }
        return try ValueReranker(critics: critics, stateSize: config.stateSize, actionSize: config.actionSize,
                                 maxCandidates: maxCandidates, selection: selection)
    }
}
