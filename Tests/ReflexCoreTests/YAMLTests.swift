import ReflexCore
import Testing

private struct Limits: Decodable, Equatable {
    var position: [Double]
    var maxVelocity: Double
}

private enum Bus: String, Decodable { case feetech, dynamixel }

private struct Joint: Decodable, Equatable {
    var name: String
    var limits: Limits
    var servoId: UInt8?
}

private struct RobotFile: Decodable, Equatable {
    var name: String
    var bus: Bus
    var baudRate: Int
    var joints: [Joint]
    var gains: [String: Double]
    var enabled: Bool
    var note: String?
}

@Suite struct YAMLTests {
    let good = """
    name: test-arm
    bus: feetech
    baud_rate: 1_000_000
    enabled: yes
    joints:
      - name: shoulder
        limits: {position: [-1.5, 1.5], max_velocity: 3.0}
        servo_id: 1
      - name: elbow
        limits:
          position: [-.inf, .inf]
          max_velocity: 2
    gains: {kp: 40, kd: 0.5}
    note: ~
    """

    @Test func decodesNestedTypesWithSnakeCaseKeys() throws {
        let r = try YAMLDecoder().decode(RobotFile.self, from: good, file: "arm.yaml")
        #expect(r.name == "test-arm")
        #expect(r.bus == .feetech)
        #expect(r.baudRate == 1_000_000)
        #expect(r.enabled)
        #expect(r.joints.count == 2)
        #expect(r.joints[0].servoId == 1)
        #expect(r.joints[1].servoId == nil)
        #expect(r.joints[1].limits.position == [-.infinity, .infinity])
        #expect(r.gains == ["kp": 40, "kd": 0.5])
        #expect(r.note == nil)
    }

    @Test func syntaxErrorGivesFileAndLine() {
        let e = reflexError { _ = try YAMLDecoder().decode(RobotFile.self, from: "name: a\njoints: [1, 2\nbus: x\n", file: "bad.yaml") }
        #expect(e?.code == .yamlSyntax)
        #expect(e?.location.file == "bad.yaml")
        #expect((e?.location.line ?? 0) >= 2)
    }

    @Test func missingKeyNamesTheKeyPath() {
        let text = good.replacingOccurrences(of: "max_velocity: 2\n", with: "")
        let e = reflexError { _ = try YAMLDecoder().decode(RobotFile.self, from: text, file: "arm.yaml") }
        #expect(e?.code == .yamlMissingKey)
        #expect(e?.location.keyPath == "joints[1].limits.max_velocity")
        #expect(e?.location.line == 11)
    }

    @Test func wrongTypeGivesLineColumnAndKey() {
        let text = good.replacingOccurrences(of: "max_velocity: 3.0", with: "max_velocity: fast")
        let e = reflexError { _ = try YAMLDecoder().decode(RobotFile.self, from: text, file: "arm.yaml") }
        #expect(e?.code == .yamlType)
        #expect(e?.location.line == 7)
        #expect(e?.location.keyPath == "joints[0].limits.max_velocity")
        #expect(e?.description.hasPrefix("arm.yaml:7:") == true)
    }

    @Test func unknownKeyIsRefusedWithItsLine() {
        let text = good.replacingOccurrences(of: "    servo_id: 1", with: "    servo_idd: 1")
        let e = reflexError { _ = try YAMLDecoder().decode(RobotFile.self, from: text, file: "arm.yaml") }
        #expect(e?.code == .yamlUnknownKey)
        #expect(e?.location.line == 8)
        #expect(e?.location.keyPath == "joints[0].servo_idd")
        // …and accepted when the caller opts out.
        #expect(throws: Never.self) { try YAMLDecoder(rejectUnknownKeys: false).decode(RobotFile.self, from: text) }
    }

    @Test func badEnumValueAndOutOfRangeInteger() {
        let e1 = reflexError {
            _ = try YAMLDecoder().decode(RobotFile.self, from: good.replacingOccurrences(of: "bus: feetech", with: "bus: can"), file: "a.yaml")
        }
        #expect(e1?.code == .invalidValue)
        #expect(e1?.location.line == 2)
        let e2 = reflexError {
            _ = try YAMLDecoder().decode(RobotFile.self, from: good.replacingOccurrences(of: "servo_id: 1", with: "servo_id: 300"))
        }
        #expect(e2?.code == .yamlType)
        #expect(e2?.location.keyPath == "joints[0].servo_id")
    }

    @Test func aliasBombIsRefused() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1 ... 8 { text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        let e = reflexError { _ = try YAMLNode.parse(text) }
        #expect(e?.code == .yamlSyntax)
    }

    @Test func missingFile() {
        let e = reflexError { _ = try YAMLDecoder().decode(RobotFile.self, fromFile: "/nonexistent/robot.yaml") }
        #expect(e?.code == .fileNotFound)
        #expect(e?.location.file == "/nonexistent/robot.yaml")
    }
}

extension String {
    fileprivate func replacingOccurrences(of a: String, with b: String) -> String {
        var out = ""
        var rest = Substring(self)
        while let r = rest.range(of: a) {
            out += rest[..<r.lowerBound] + b
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
