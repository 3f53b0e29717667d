import CBridge
import ReflexCore

/// The shape of a multilayer perceptron: Linear → [LayerNorm] → activation for each hidden layer, then a
/// Linear output layer and an optional output activation.
public struct MLPConfig: Codable, Sendable, Equatable {
    public var inputSize: Int
    public var hiddenSizes: [Int]
    public var outputSize: Int
    public var activation: Activation
    /// LayerNorm after each hidden Linear (DSRL's critics and actors use it).
    public var layerNorm: Bool
    public var outputActivation: Activation

    public init(inputSize: Int, hiddenSizes: [Int], outputSize: Int, activation: Activation = .relu,
                layerNorm: Bool = false, outputActivation: Activation = .identity) {
        self.inputSize = inputSize
        self.hiddenSizes = hiddenSizes
        self.outputSize = outputSize
        self.activation = activation
        self.layerNorm = layerNorm
        self.outputActivation = outputActivation
    }

    /// in, hidden…, out.
    public var widths: [Int] { [inputSize] + hiddenSizes + [outputSize] }
    public var layerCount: Int { hiddenSizes.count + 1 }
    public var maxWidth: Int { widths.max() ?? 0 }

    /// Checks sizes; throws `invalidValue` naming the bad field.
    public func validate() throws {
        if inputSize <= 0 { throw ReflexError(.invalidValue, "input_size must be positive, got \(inputSize)") }
        if outputSize <= 0 { throw ReflexError(.invalidValue, "output_size must be positive, got \(outputSize)") }
        if let bad = hiddenSizes.first(where: { $0 <= 0 }) {
            throw ReflexError(.invalidValue, "hidden_sizes must be positive, got \(bad)")
        }
    }
}

/// Where each tensor of a network lives in its flat parameter vector. Weights, gradients, Adam moments and
/// target networks all share one layout, so optimizer steps and Polyak averaging are single loops.
public struct ParameterLayout: Sendable, Equatable {
    public struct Slot: Sendable, Equatable {
        /// Stable key in checkpoints, e.g. `layers.0.weight`.
        public var name: String
        public var shape: [Int]
        public var offset: Int
        public var count: Int { shape.reduce(1, *) }
        public init(name: String, shape: [Int], offset: Int) {
            self.name = name
            self.shape = shape
            self.offset = offset
        }
    }

    public private(set) var slots: [Slot] = []
    public private(set) var count = 0

    public init() {}

    /// Appends a slot and returns its index.
    @discardableResult
    public mutating func add(_ name: String, _ shape: [Int]) -> Int {
        let slot = Slot(name: name, shape: shape, offset: count)
        slots.append(slot)
        count += slot.count
        return slots.count - 1
    }

    /// Views of `flat` (which has this layout), one per slot.
    public func views(of flat: Tensor) -> [Tensor] {
        precondition(flat.count == count, "flat parameter tensor has \(flat.count) values, layout needs \(count)")
        return slots.map { Tensor(storage: flat.storage, offset: flat.offset + $0.offset, shape: $0.shape) }
    }

    /// (name, view) pairs with `prefix` prepended to each name, for saving.
    public func named(_ flat: Tensor, prefix: String = "") -> [(name: String, tensor: Tensor)] {
        zip(slots, views(of: flat)).map { (prefix + $0.name, $1) }
    }

    /// Copies every slot from `file` (names with `prefix`) into `flat`, checking each tensor's presence and shape.
    public func load(into flat: Tensor, from file: SafetensorsFile, prefix: String = "") throws {
        for (slot, view) in zip(slots, views(of: flat)) {
            let name = prefix + slot.name
            guard let entry = file.entry(name) else {
                throw ReflexError(.safetensorsMissingTensor, "missing tensor '\(name)' (expected shape \(slot.shape))",
                                  at: .init(file: file.path, element: "tensor '\(name)'"))
            }
            guard entry.shape == slot.shape else {
                throw ReflexError(.shapeMismatch, "shape \(entry.shape) in the file, the network needs \(slot.shape)",
                                  at: .init(file: file.path, byteOffset: file.dataOffset + entry.dataRange.lowerBound,
                                            element: "tensor '\(name)'"))
            }
            view.assign(from: try file.tensor(name))
        }
    }
}

/// A multilayer perceptron's weights: plain data in one flat tensor, with views per layer.
///
/// The verbs are distinct, as in RLtools: `evaluate` (inference, keeps nothing), `forward` (keeps in a tape
/// what `backward` needs) and `backward` (gradients into a flat tensor with the same layout). Buffers come
/// from `MLPWorkspace` / `MLPTape`, made once for a maximum batch, so the verbs allocate nothing.
public struct MLP: Sendable {
    public let config: MLPConfig
    public let layout: ParameterLayout
    /// Every weight, bias and LayerNorm parameter, in `layout` order.
    public let parameters: Tensor
    public let linears: [Linear]
    /// One per hidden layer when `config.layerNorm`, else empty.
    public let norms: [LayerNorm]
    /// Offset of each layer's weight (its bias follows) and each LayerNorm's gamma (beta follows) in `layout`.
    let linearOffsets: [Int]
    let normOffsets: [Int]

    /// The layout of a network with `config`: `layers.i.weight|bias`, `norms.i.weight|bias`.
    public static func layout(for config: MLPConfig) -> ParameterLayout {
        var layout = ParameterLayout()
        let w = config.widths
        for i in 0 ..< config.layerCount {
            layout.add("layers.\(i).weight", [w[i + 1], w[i]])
            layout.add("layers.\(i).bias", [w[i + 1]])
            if config.layerNorm && i < config.hiddenSizes.count {
                layout.add("norms.\(i).weight", [w[i + 1]])
                layout.add("norms.\(i).bias", [w[i + 1]])
            }
        }
        return layout
    }

    /// A network over existing parameters (`parameters.count` must match the layout).
    public init(config: MLPConfig, parameters: Tensor) {
        self.config = config
        layout = MLP.layout(for: config)
        precondition(parameters.count == layout.count, "MLP needs \(layout.count) parameters, got \(parameters.count)")
        self.parameters = parameters
        let views = layout.views(of: parameters)
        var linears: [Linear] = []
        var norms: [LayerNorm] = []
        var k = 0
        for i in 0 ..< config.layerCount {
            linears.append(Linear(weight: views[k], bias: views[k + 1]))
            k += 2
            if config.layerNorm && i < config.hiddenSizes.count {
                norms.append(LayerNorm(gamma: views[k], beta: views[k + 1]))
                k += 2
            }
        }
        self.linears = linears
        self.norms = norms
        linearOffsets = layout.slots.filter { $0.name.hasPrefix("layers.") && $0.name.hasSuffix(".weight") }.map(\.offset)
        normOffsets = layout.slots.filter { $0.name.hasPrefix("norms.") && $0.name.hasSuffix(".weight") }.map(\.offset)
    }

    /// A freshly initialized network (PyTorch's defaults: Linear U(−1/√in, 1/√in), LayerNorm γ = 1, β = 0).
    public init(config: MLPConfig, generator: inout RandomGenerator) {
        let layout = MLP.layout(for: config)
        let flat = Tensor(zeros: [layout.count])
        self.init(config: config, parameters: flat)
        for (i, linear) in linears.enumerated() {
            let bound = 1 / Float(config.widths[i]).squareRoot()
            generator.fillUniform(linear.weight, low: -bound, high: bound)
            if let b = linear.bias { generator.fillUniform(b, low: -bound, high: bound) }
        }
        for norm in norms { norm.gamma.fill(1) }
    }

    public var parameterCount: Int { layout.count }

    /// An independent copy of the weights (a target network).
    public func copy() -> MLP { MLP(config: config, parameters: parameters.copy()) }

    /// (name, tensor) pairs for saving, names prefixed.
    public func namedParameters(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        layout.named(parameters, prefix: prefix)
    }

    /// Inference: `output` (batch × out) from `input` (batch × in). Keeps nothing.
    /// - Note: Real-time safe.
    public func evaluate(_ input: UnsafePointer<Float>, batch: Int, output: UnsafeMutablePointer<Float>,
                         workspace: MLPWorkspace) {
        precondition(batch <= workspace.maxBatch, "batch \(batch) > workspace capacity \(workspace.maxBatch)")
        var x = input
        var flip = false
        let last = linears.count - 1
        for (i, linear) in linears.enumerated() {
            let width = linear.outputSize
            let y = i == last ? output : (flip ? workspace.b.data : workspace.a.data)
            linear.forward(x, batch: batch, output: y)
            let act = i == last ? config.outputActivation : config.activation
            if i < last && config.layerNorm {
                norms[i].forward(y, batch: batch, output: y, mean: nil, rstd: nil)
            }
            if act != .identity { act.forward(y, y, count: batch * width) }
            x = UnsafePointer(y)
            flip.toggle()
        }
    }

    /// Convenience for tests and cold paths: evaluates a batch given as a tensor (batch × in).
    public func evaluate(_ input: Tensor) -> Tensor {
        let batch = input.count / config.inputSize
        let out = Tensor(zeros: [batch, config.outputSize])
        evaluate(input.data, batch: batch, output: out.data, workspace: MLPWorkspace(config: config, maxBatch: batch))
        return out
    }

    /// Training forward pass: like `evaluate`, keeping activations in `tape`. Returns the output (inside the tape,
    /// valid until the next forward on that tape).
    /// - Note: Real-time safe.
    @discardableResult
    public func forward(_ input: UnsafePointer<Float>, batch: Int, tape: MLPTape) -> UnsafeMutablePointer<Float> {
        precondition(batch <= tape.maxBatch, "batch \(batch) > tape capacity \(tape.maxBatch)")
        tape.batch = batch
        tape.inputs[0].data.update(from: input, count: batch * config.inputSize)
        let last = linears.count - 1
        for (i, linear) in linears.enumerated() {
            let width = linear.outputSize
            let n = batch * width
            let z = tape.preActivations[i].data
            if i < last && config.layerNorm {
                let lin = tape.linearOutputs[i].data
                linear.forward(tape.inputs[i].data, batch: batch, output: lin)
                norms[i].forward(lin, batch: batch, output: z, mean: tape.means[i].data, rstd: tape.rstds[i].data)
            } else {
                linear.forward(tape.inputs[i].data, batch: batch, output: z)
            }
            let act = i == last ? config.outputActivation : config.activation
            act.forward(z, tape.inputs[i + 1].data, count: n)
        }
        return tape.inputs[linears.count].data
    }

    /// Backward pass from dL/d(output) (batch × out) through the activations recorded by `forward`.
    /// Accumulates (+=) parameter gradients into `gradient` (same layout as `parameters`) when given, and writes
    /// dL/d(input) into `inputGradient` when given.
    /// - Note: Real-time safe.
    public func backward(tape: MLPTape, outputGradient: UnsafePointer<Float>, gradient: Tensor?,
                         inputGradient: UnsafeMutablePointer<Float>?) {
        precondition((gradient?.count ?? layout.count) == layout.count, "gradient has the wrong layout")
        let batch = tape.batch
        let last = linears.count - 1
        let g = gradient?.data
        // dy and other ping-pong between the tape's two scratch buffers.
        var dy = tape.scratchA.data
        var other = tape.scratchB.data
        dy.update(from: outputGradient, count: batch * config.outputSize)
        for i in stride(from: last, through: 0, by: -1) {
            let linear = linears[i]
            let act = i == last ? config.outputActivation : config.activation
            act.backward(input: tape.preActivations[i].data, outputGradient: dy, inputGradient: dy,
                         count: batch * linear.outputSize)
            if i < last && config.layerNorm {
                let o = normOffsets[i]
                norms[i].backward(input: tape.linearOutputs[i].data, mean: tape.means[i].data, rstd: tape.rstds[i].data,
                                  outputGradient: dy, batch: batch, inputGradient: other,
                                  gammaGradient: g.map { $0 + o }, betaGradient: g.map { $0 + o + linear.outputSize })
                swap(&dy, &other)
            }
            // dy is now dL/d(linear output).
            let o = linearOffsets[i]
            let dx = i == 0 ? inputGradient : other
            linear.backward(input: tape.inputs[i].data, outputGradient: dy, batch: batch,
                            weightGradient: g.map { $0 + o }, biasGradient: g.map { $0 + o + linear.weight.count },
                            inputGradient: dx)
            swap(&dy, &other)
        }
    }
}

/// Scratch for `MLP.evaluate`: two ping-pong buffers sized for `maxBatch` rows of the widest layer.
public final class MLPWorkspace: @unchecked Sendable {
    public let maxBatch: Int
    let a: Tensor
    let b: Tensor

    public init(config: MLPConfig, maxBatch: Int) {
        self.maxBatch = maxBatch
        a = Tensor(zeros: [maxBatch * config.maxWidth])
        b = Tensor(zeros: [maxBatch * config.maxWidth])
    }
}

/// What `MLP.forward` keeps for `MLP.backward`: each layer's input, its pre-activation (and the LayerNorm input
/// and statistics), plus gradient scratch. Made once for `maxBatch`.
public final class MLPTape: @unchecked Sendable {
    public let maxBatch: Int
    public internal(set) var batch = 0
    /// inputs[i] is layer i's input; inputs[layerCount] is the network output.
    let inputs: [Tensor]
    let preActivations: [Tensor]
    let linearOutputs: [Tensor]
    let means: [Tensor]
    let rstds: [Tensor]
    let scratchA: Tensor
    let scratchB: Tensor
    public init(config: MLPConfig, maxBatch: Int) {
        self.maxBatch = maxBatch
        let w = config.widths
        inputs = w.map { Tensor(zeros: [maxBatch, $0]) }
        preActivations = w.dropFirst().map { Tensor(zeros: [maxBatch, $0]) }
        let normed = config.layerNorm ? config.hiddenSizes : []
        linearOutputs = normed.map { Tensor(zeros: [maxBatch, $0]) }
        means = normed.map { _ in Tensor(zeros: [maxBatch]) }
        rstds = normed.map { _ in Tensor(zeros: [maxBatch]) }
        scratchA = Tensor(zeros: [maxBatch * config.maxWidth])
        scratchB = Tensor(zeros: [maxBatch * config.maxWidth])
    }

    /// The network output of the last forward pass (batch × out).
    public var output: UnsafeMutablePointer<Float> { inputs[inputs.count - 1].data }
}
