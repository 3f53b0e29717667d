import AllocationCounter
import Foundation
import ReflexCore
import ReflexNN
import Testing
@testable import ReflexPolicy

/// The goal (x, y) the point-mass camera demonstrations show only in their frames, as auxiliary targets.
func pointMassGoalTargets(_ data: Demonstrations, episodes: Int, seed: UInt64, weight: Float) throws -> AuxiliaryTargets {
    let full = try PointMass.demonstrations(episodes: episodes, seed: seed)
    return AuxiliaryTargets(names: ["goal.x", "goal.y"], episodes: try full.keepingObservations([2, 3]).episodes.map(\.observations),
                            weight: weight)
}

/// The auxiliary loss (a linear head on the camera features predicting excluded observations, training only) and
/// DrQ's random shift of training frames.
@Suite(.serialized) struct CameraAuxiliaryTests {
    /// The head's gradients (W, b and the features') match central finite differences of weight · mean((Wf + b − y)²)
    /// in Float64 arithmetic (the loss is quadratic, so central differences are exact up to rounding); reached 1.9e-6
    /// relative, bound 1e-5.
    @Test func auxiliaryHeadGradientMatchesFiniteDifferences() throws {
        var gen = RandomGenerator(seed: 3)
        let b = 5, fin = 7, m = 3, weight: Float = 0.7
        let head = Linear(inputSize: fin, outputSize: m, generator: &gen)
        let f = Tensor(zeros: [b * fin]), y = Tensor(zeros: [b * m])
        gen.fillUniform(f, low: 0, high: 1)
        gen.fillUniform(y, low: -1, high: 1)
        let pred = Tensor(zeros: [b * m]), dPred = Tensor(zeros: [b * m])
        let grad = Tensor(zeros: [m * fin + m]), dF = Tensor(zeros: [b * fin])
        _ = PolicyTrainer.auxiliaryLoss(head: head, features: f.data, targets: y.data, batch: b, weight: weight, prediction: pred.data,
                                        predictionGradient: dPred.data, gradient: grad.data, featureGradient: dF.data)
        // The weighted loss in Float64 from the current values.
        func loss() -> Double {
            var s = 0.0
            for r in 0 ..< b {
                for o in 0 ..< m {
                    var v = Double(head.bias!.data[o])
                    for i in 0 ..< fin { v += Double(head.weight.data[o * fin + i]) * Double(f.data[r * fin + i]) }
                    let e = v - Double(y.data[r * m + o])
                    s += e * e
                }
            }
            return Double(weight) * s / Double(b * m)
        }
        func numeric(_ p: UnsafeMutablePointer<Float>) -> Double {
            let h: Float = 1e-2, x = p.pointee
            p.pointee = x + h; let up = loss()
            p.pointee = x - h; let down = loss()
            p.pointee = x
            return (up - down) / Double(2 * h)
        }
        var worst = 0.0
        func check(_ analytic: Float, _ p: UnsafeMutablePointer<Float>) {
            let n = numeric(p)
            worst = max(worst, abs(Double(analytic) - n) / max(1e-3, abs(n)))
        }
        for i in 0 ..< m * fin { check(grad.data[i], head.weight.data + i) }
        for o in 0 ..< m { check(grad.data[m * fin + o], head.bias!.data + o) }
        for i in 0 ..< b * fin { check(dF.data[i], f.data + i) }
        #expect(worst < 1e-5, "worst relative gradient error \(worst)")
    }

    /// With the goal (seen only in the frames) as auxiliary target and a random shift of one pixel: the auxiliary
    /// loss falls (the encoder learns where the goal is; reached 0.646 → 0.022, bound 10×), the denoising loss still
    /// falls, a step allocates nothing, and a checkpoint restores the head and its optimizer exactly.
    @Test func auxiliaryTrainingLearnsTheTargetsAndAllocatesNothing() throws {
        let data = try pointMassCameraDemonstrations(episodes: 20, seed: 5)
        let aux = try pointMassGoalTargets(data, episodes: 20, seed: 5, weight: 1)
        let training = TrainingConfig(steps: 400, batchSize: 32, learningRate: 1e-3, warmupSteps: 20, emaDecay: 0.99, seed: 2,
                                      randomShift: 1)
        let trainer = try PolicyTrainer(config: try pointMassCameraConfig(), data: data, training: training, auxiliary: aux)
        var first: Float = 0, last: Float = 0, auxFirst: Float = 0, auxLast: Float = 0
        for _ in 0 ..< 3 { first += trainer.trainStep() / 3; auxFirst += trainer.auxiliaryLoss / 3 }
        let before = rx_thread_allocation_count()
        for _ in 0 ..< 20 { trainer.trainStep() }
        let allocations = rx_thread_allocation_count() - before
        #expect(allocations == 0, "\(allocations) allocations in 20 training steps with the auxiliary loss and random shift")
        while trainer.step < training.steps - 20 { trainer.trainStep() }
        for _ in 0 ..< 20 { last += trainer.trainStep() / 20; auxLast += trainer.auxiliaryLoss / 20 }
        #expect(last < 0.5 * first, "loss \(first) → \(last)")
        #expect(auxLast < 0.1 * auxFirst, "auxiliary loss \(auxFirst) → \(auxLast)")

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("camera-aux-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try trainer.checkpoint(to: dir)
        let again = try PolicyTrainer(config: try pointMassCameraConfig(), data: data, training: training, auxiliary: aux)
        try again.restore(from: dir)
        #expect(again.auxiliaryParameters.scalars == trainer.auxiliaryParameters.scalars)
        #expect(again.trainStep() == trainer.trainStep() && again.auxiliaryLoss == trainer.auxiliaryLoss)
        // The deployed policy holds no head: model.safetensors has no auxiliary tensor.
        let file = try SafetensorsFile(path: dir + "/model.safetensors")
        #expect(!file.names.contains { $0.contains("auxiliary") }, "\(file.names)")
    }

    /// Meaningless set-ups are refused: an auxiliary loss or a random shift without a camera, a zero weight, targets
    /// that do not match the episodes.
    @Test func auxiliaryWithoutCameraIsRefused() throws {
        let data = try pointMassCameraDemonstrations(episodes: 3, seed: 1)
        let aux = try pointMassGoalTargets(data, episodes: 3, seed: 1, weight: 1)
        var blind = try pointMassCameraConfig()
        blind.cameras = nil
        let training = TrainingConfig(steps: 10, batchSize: 4)
        #expect(throws: ReflexError.self) { try PolicyTrainer(config: blind, data: data, training: training, auxiliary: aux) }
        #expect(throws: ReflexError.self) {
            try PolicyTrainer(config: blind, data: data, training: TrainingConfig(steps: 10, batchSize: 4, randomShift: 2))
        }
        var zero = aux
        zero.weight = 0
        #expect(throws: ReflexError.self) { try PolicyTrainer(config: try pointMassCameraConfig(), data: data, training: training, auxiliary: zero) }
        var short = aux
        short.episodes[0].removeLast(2)
        #expect(throws: ReflexError.self) { try PolicyTrainer(config: try pointMassCameraConfig(), data: data, training: training, auxiliary: short) }
    }

    /// A shifted frame reads pixel (y + dy, x + dx), clamped to the frame (edges repeated).
    @Test func randomShiftRepeatsEdges() throws {
        var gen = RandomGenerator(seed: 1)
        let encoder = try ConvEncoder(config: ConvEncoderConfig(imageHeight: 4, imageWidth: 5, channels: [8], keypoints: 2, features: 4),
                                      generator: &gen)
        let frame = (0 ..< 4 * 5 * 3).map { UInt8($0) }
        var image = [Float](repeating: 0, count: encoder.imageCount)
        frame.withUnsafeBufferPointer { encoder.loadFrame($0.baseAddress!, into: &image, shift: (dy: -1, dx: 2)) }
        for y in 0 ..< 4 {
            for x in 0 ..< 5 {
                let sy = min(max(y - 1, 0), 3), sx = min(max(x + 2, 0), 4)
                for c in 0 ..< 3 { #expect(image[(y * 5 + x) * 3 + c] == Float(frame[(sy * 5 + sx) * 3 + c]) / 255) }
            }
        }
    }
}
