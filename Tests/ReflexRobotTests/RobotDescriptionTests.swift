import Foundation
import ReflexCore
import Testing

@testable import ReflexRobot

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
let so101Path = repositoryRoot + "/robots/so101.yaml"

func temporaryDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "reflex-robot-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite struct RobotDescriptionTests {
    @Test func so101LoadsWithJointsLimitsAndHardware() throws {
        let robot = try RobotDescription.load(path: so101Path)
        #expect(robot.name == "so101")
        #expect(robot.jointNames == ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"])
        #expect(robot.armJointCount == 5)
        #expect(robot.home.count == 6)
        let hw = try #require(robot.hardware)
        #expect(hw.bus == "feetech")
        #expect(hw.baudRate == 1_000_000)
        #expect(hw.servos.map(\.id) == [1, 2, 3, 4, 5, 6])
        #expect(hw.servos.map(\.joint) == robot.jointNames)
        // Limits come from the URDF when the YAML does not override them.
        let pan = robot.joints[0]
        let urdfPan = robot.model.joints[pan.urdfIndex]
        #expect(pan.lower == urdfPan.lower && pan.upper == urdfPan.upper && pan.effort == urdfPan.effort)
        #expect(robot.control.maxForce == robot.joints.map(\.effort))
    }

    @Test func namedFindsTheRepositoryRobot() throws {
        #expect(try RobotDescription.named("so101").name == "so101")
        #expect(throws: ReflexError.self) { try RobotDescription.named("no-such-robot") }
    }

    func writeVariant(_ edit: (String) -> String) throws -> String {
        let dir = try temporaryDirectory()
        try FileManager.default.copyItem(atPath: repositoryRoot + "/robots/so101.urdf", toPath: dir + "/so101.urdf")
        let text = edit(try String(contentsOfFile: so101Path, encoding: .utf8))
        try text.write(toFile: dir + "/so101.yaml", atomically: true, encoding: .utf8)
        return dir + "/so101.yaml"
    }

    @Test func errorsNameFileLineAndKey() throws {
        let badHome = try writeVariant { $0.replacingOccurrences(of: "home: [0.0, 0.35, 1.35, 1.45, 0.0, 0.9]", with: "home: [0.0, 0.35]") }
        do {
            _ = try RobotDescription.load(path: badHome)
            Issue.record("a short home pose must be rejected")
        } catch let e as ReflexError {
            #expect(e.location.file == badHome)
            #expect(e.location.keyPath == "home")
            #expect(e.location.line == 17)
        }
        let badJoint = try writeVariant { $0.replacingOccurrences(of: "- name: elbow_flex", with: "- name: elbow") }
        do {
            _ = try RobotDescription.load(path: badJoint)
            Issue.record("an unknown joint must be rejected")
        } catch let e as ReflexError {
            #expect(e.location.keyPath == "joints[2].name")
            #expect(e.location.line == 9)
            #expect(e.message.contains("elbow"))
        }
        let badType = try writeVariant { $0.replacingOccurrences(of: "baud_rate: 1000000", with: "baud_rate: fast") }
        do {
            _ = try RobotDescription.load(path: badType)
            Issue.record("a non-numeric baud rate must be rejected")
        } catch let e as ReflexError {
            #expect(e.location.file == badType)
            #expect(e.location.keyPath?.contains("baud_rate") == true)
            #expect(e.location.line != nil)
        }
        let badDirection = try writeVariant { $0.replacingOccurrences(of: "id: 3, model: sts3215, offset: 2048, direction: 1", with: "id: 3, model: sts3215, offset: 2048, direction: 2") }
        #expect(throws: ReflexError.self) { try RobotDescription.load(path: badDirection) }
    }
}
