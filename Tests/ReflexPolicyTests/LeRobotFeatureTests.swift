import Foundation
import ReflexCore
import Testing

@testable import ReflexPolicy

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// The input rules Diffusion Policy and ACT share (`LeRobotFeature.validateInputs`), checked through both configs on
/// their two-camera fixtures with one input changed.
struct LeRobotFeatureTests {
    /// The fixture's config.json with input feature `name` replaced by `feature` (a JSON object), members kept in
    /// document order (the cameras' order is their token order).
    private func config(_ fixture: String, feature name: String, _ feature: String) throws -> JSONValue {
        let json = try JSONParser.parse(try String(contentsOfFile: fixtures + "/\(fixture)/config.json", encoding: .utf8))
        let replacement = try JSONParser.parse(feature)
        let members = try #require(json.objectValue)
        let inputs = try #require(json["input_features"]?.objectValue)
        #expect(inputs.contains { $0.key == name }, "fixture \(fixture) has no \(name)")
        let changed = JSONValue.object(inputs.map { ($0.key, $0.key == name ? replacement : $0.value) })
        return .object(members.map { ($0.key, $0.key == "input_features" ? changed : $0.value) })
    }

    private func refusal(_ make: () throws -> Void) -> ReflexError? {
        do { try make() } catch let e as ReflexError { return e } catch { Issue.record("\(error)") }
        return nil
    }

    /// Cameras of two shapes: LeRobot's own rule for Diffusion Policy, Reflex's limit for ACT; each says which.
    @Test func camerasOfDifferentShapesAreRefusedWithTheirReason() throws {
        let wrist = "observation.images.wrist"
        let diffusion = try config("lerobot_image_2cam", feature: wrist, #"{"type": "VISUAL", "shape": [3, 72, 64]}"#)
        let d = refusal { _ = try LeRobotDiffusionConfig(json: diffusion) }
        #expect(d?.code == .invalidValue && d?.description.contains("validate_features") == true, "\(String(describing: d))")
        #expect(d?.description.contains("observation.images.wrist") == true)
        let act = try config("lerobot_act_2cam", feature: wrist, #"{"type": "VISUAL", "shape": [3, 96, 96]}"#)
        let a = refusal { _ = try LeRobotACTConfig(json: act) }
        #expect(a?.code == .unsupportedCheckpoint && a?.description.contains("one backbone workspace") == true, "\(String(describing: a))")
        #expect(a?.description.contains("observation.images.wrist") == true)
    }

    /// An image that is not (C, H, W), a state of two dimensions and an unknown feature type, through both configs.
    @Test(arguments: [
        (#"{"type": "VISUAL", "shape": [96, 128]}"#, "(channels, height, width)"),
        (#"{"type": "VISUAL", "shape": [3, 0, 128]}"#, "(channels, height, width)"),
        (#"{"type": "ENV", "shape": [2, 2]}"#, "one positive dimension"),
        (#"{"type": "AUDIO", "shape": [3, 96, 128]}"#, "type AUDIO"),
    ])
    func badInputsAreRefusedByBothConfigs(feature: String, reason: String) throws {
        let act = try config("lerobot_act_2cam", feature: "observation.images.wrist", feature)
        let diffusion = try config("lerobot_image_2cam", feature: "observation.images.wrist", feature)
        for e in [refusal { _ = try LeRobotACTConfig(json: act) }, refusal { _ = try LeRobotDiffusionConfig(json: diffusion) }] {
            #expect(e?.description.contains(reason) == true && e?.description.contains("observation.images.wrist") == true,
                    "\(String(describing: e))")
        }
    }
}
