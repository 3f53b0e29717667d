import Foundation
import ReflexCore
import Testing

@testable import ReflexHardware

@Suite struct ArmBusConfigurationTests {
    func write(_ text: String) -> String {
        let path = NSTemporaryDirectory() + "reflex-hw-\(UUID().uuidString).yaml"
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    @Test func readsTheHardwareSectionOfARobotDescription() throws {
        let path = write("""
        name: so101
        urdf: so101.urdf
        joints: [{name: a}]
        hardware:
          bus: feetech
          port: /dev/ttyACM0
          baud_rate: 1000000
          servos:
            - {joint: shoulder_pan, id: 1, model: sts3215, offset: 2048, direction: 1}
            - {joint: gripper, id: 6, model: sts3215, offset: 1900, direction: -1}
        """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (name, hw) = try ArmBusConfiguration.load(robotFile: path)
        #expect(name == "so101" && hw.bus == .feetech && hw.baudRate == 1_000_000)
        #expect(hw.servos.map(\.id) == [1, 6] && hw.servos[1].direction == -1 && hw.servos[1].offset == 1900)
    }

    @Test func aServoOfTheWrongProtocolIsAnErrorAtItsKey() throws {
        let path = write("""
        hardware:
          bus: feetech
          baud_rate: 1000000
          servos:
            - {joint: a, id: 1, model: xl330, offset: 0, direction: 1}
        """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            _ = try ArmBusConfiguration.load(robotFile: path)
        } throws: { e in
            (e as? ReflexError)?.location.keyPath == "hardware.servos[0]" && (e as? ReflexError)?.location.file == path
        }
    }
}
