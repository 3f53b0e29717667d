import Foundation
import ReflexCore

/// A copy of the LeRobot image or ACT fixture at `path` in a fresh temporary directory, its model.safetensors
/// completed with the tensors encoder_tensors.json lists (rebuilt by `DeterministicWeights`, too large to commit).
public func materializeLeRobotFixture(at path: String) throws -> String {
    let dir = NSTemporaryDirectory() + "reflex-lerobot-image-\(UUID().uuidString)"
    try FileManager.default.copyItem(atPath: path, toPath: dir)
    let model = try SafetensorsFile(path: dir + "/model.safetensors")
    var tensors = try model.allTensors().map { (name: $0.key, tensor: $0.value) }
    let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/encoder_tensors.json")))
    for (key, shape) in (manifest as? [String: [Int]]) ?? [:] {
        tensors.append((key, DeterministicWeights.tensor(key, shape: shape)))
    }
    try writeSafetensors(tensors, to: dir + "/model.safetensors", metadata: ["format": "pt"])
    return dir
}
