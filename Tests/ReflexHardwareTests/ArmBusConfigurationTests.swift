import Foundation
import ReflexCore
import ReflexRobot
import Testing

@testable import ReflexHardware

let repoRobots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("robots").path

@Suite struct ArmBusConfigurationTests {
    @Test func readsTheHardwareSectionOfSO101() throws {
        let d = try RobotDescription.load(path: repoRobots + "/so101.yaml")
        let hw = try ArmBusConfiguration(description: d)
        #expect(hw.bus == .feetech && hw.baudRate == 1_000_000)
        #expect(hw.servos.map(\.id) == [1, 2, 3, 4, 5, 6])
        #expect(hw.servos.allSatisfy { $0.controlTable.modelNumber == STS3215.modelNumber })
    }

    @Test func aServoOfTheWrongProtocolIsAnErrorAtItsKey() throws {
        let mapping = try YAMLDecoder().decode(HardwareMapping.self, from: """
        bus: feetech
        baud_rate: 1000000
        servos:
          - {joint: a, id: 1, model: xl330, offset: 0, direction: 1}
        """)
        #expect {
            _ = try ArmBusConfiguration(mapping, file: "r.yaml")
        } throws: { e in
            (e as? ReflexError)?.location.keyPath == "hardware.servos[0]" && (e as? ReflexError)?.location.file == "r.yaml"
        }
    }

    @Test func calibrationRoundTripsAndMustMatchTheRobot() throws {
        let d = try RobotDescription.load(path: repoRobots + "/so101.yaml")
        let hw = try ArmBusConfiguration(description: d)
        var cal = BusCalibration.fromDescription("so101", hw)
        cal.joints[2].offset = 1900
        cal.joints[2].direction = -1
        let path = NSTemporaryDirectory() + "reflex-cal-\(UUID().uuidString).yaml"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try cal.save(path: path)
        #expect(try BusCalibration.load(path: path, for: hw) == cal)
        var other = hw
        other.servos[0].id = 9
        #expect(throws: ReflexError.self) { _ = try BusCalibration.load(path: path, for: other) }
    }
}
