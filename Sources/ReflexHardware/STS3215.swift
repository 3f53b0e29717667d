// Feetech STS3215 (SO-100/SO-101 arms) control table, from Feetech's STS/SMS manual as LeRobot's
// `feetech/tables.py` lists it; sign-magnitude bits: 15 for positions and velocities, 11 for the homing
// offset, 10 for the load.

/// The Feetech STS3215 serial bus servo (model number 777, 4096 ticks per turn).
public enum STS3215 {
    /// The control-table registers, e.g. `STS3215.Register.goalPosition`.
    public enum Register {
        public static let firmwareMajorVersion = ServoRegister("Firmware_Major_Version", 0, 1, writable: false, area: .eeprom)
        public static let firmwareMinorVersion = ServoRegister("Firmware_Minor_Version", 1, 1, writable: false, area: .eeprom)
        public static let modelNumber = ServoRegister("Model_Number", 3, 2, writable: false, area: .eeprom)
        public static let id = ServoRegister("ID", 5, 1, area: .eeprom)
        public static let baudRate = ServoRegister("Baud_Rate", 6, 1, area: .eeprom)
        public static let returnDelayTime = ServoRegister("Return_Delay_Time", 7, 1, area: .eeprom)
        public static let responseStatusLevel = ServoRegister("Response_Status_Level", 8, 1, area: .eeprom)
        public static let minPositionLimit = ServoRegister("Min_Position_Limit", 9, 2, area: .eeprom)
        public static let maxPositionLimit = ServoRegister("Max_Position_Limit", 11, 2, area: .eeprom)
        public static let maxTemperatureLimit = ServoRegister("Max_Temperature_Limit", 13, 1, area: .eeprom)
        public static let maxVoltageLimit = ServoRegister("Max_Voltage_Limit", 14, 1, area: .eeprom)
        public static let minVoltageLimit = ServoRegister("Min_Voltage_Limit", 15, 1, area: .eeprom)
        public static let maxTorqueLimit = ServoRegister("Max_Torque_Limit", 16, 2, area: .eeprom)
        public static let phase = ServoRegister("Phase", 18, 1, area: .eeprom)
        public static let unloadingCondition = ServoRegister("Unloading_Condition", 19, 1, area: .eeprom)
        public static let ledAlarmCondition = ServoRegister("LED_Alarm_Condition", 20, 1, area: .eeprom)
        public static let pCoefficient = ServoRegister("P_Coefficient", 21, 1, area: .eeprom)
        public static let dCoefficient = ServoRegister("D_Coefficient", 22, 1, area: .eeprom)
        public static let iCoefficient = ServoRegister("I_Coefficient", 23, 1, area: .eeprom)
        public static let minimumStartupForce = ServoRegister("Minimum_Startup_Force", 24, 2, area: .eeprom)
        public static let cwDeadZone = ServoRegister("CW_Dead_Zone", 26, 1, area: .eeprom)
        public static let ccwDeadZone = ServoRegister("CCW_Dead_Zone", 27, 1, area: .eeprom)
        public static let protectionCurrent = ServoRegister("Protection_Current", 28, 2, area: .eeprom)
        public static let angularResolution = ServoRegister("Angular_Resolution", 30, 1, area: .eeprom)
        public static let homingOffset = ServoRegister("Homing_Offset", 31, 2, encoding: .signMagnitude(signBit: 11), area: .eeprom)
        public static let operatingMode = ServoRegister("Operating_Mode", 33, 1, area: .eeprom)
        public static let protectiveTorque = ServoRegister("Protective_Torque", 34, 1, area: .eeprom)
        public static let protectionTime = ServoRegister("Protection_Time", 35, 1, area: .eeprom)
        public static let overloadTorque = ServoRegister("Overload_Torque", 36, 1, area: .eeprom)
        public static let overCurrentProtectionTime = ServoRegister("Over_Current_Protection_Time", 38, 1, area: .eeprom)
        public static let torqueEnable = ServoRegister("Torque_Enable", 40, 1)
        public static let acceleration = ServoRegister("Acceleration", 41, 1)
        public static let goalPosition = ServoRegister("Goal_Position", 42, 2, encoding: .signMagnitude(signBit: 15))
        public static let goalTime = ServoRegister("Goal_Time", 44, 2)
        public static let goalVelocity = ServoRegister("Goal_Velocity", 46, 2, encoding: .signMagnitude(signBit: 15))
        public static let torqueLimit = ServoRegister("Torque_Limit", 48, 2)
        public static let lock = ServoRegister("Lock", 55, 1)
        public static let presentPosition = ServoRegister("Present_Position", 56, 2, encoding: .signMagnitude(signBit: 15), writable: false)
        public static let presentVelocity = ServoRegister("Present_Velocity", 58, 2, encoding: .signMagnitude(signBit: 15), writable: false)
        public static let presentLoad = ServoRegister("Present_Load", 60, 2, encoding: .signMagnitude(signBit: 10), writable: false)
        public static let presentVoltage = ServoRegister("Present_Voltage", 62, 1, writable: false)
        public static let presentTemperature = ServoRegister("Present_Temperature", 63, 1, writable: false)
        public static let status = ServoRegister("Status", 65, 1, writable: false)
        public static let moving = ServoRegister("Moving", 66, 1, writable: false)
        public static let presentCurrent = ServoRegister("Present_Current", 69, 2, writable: false)

        /// Every register above, by address.
        public static let all: [ServoRegister] = [
            firmwareMajorVersion, firmwareMinorVersion, modelNumber, id, baudRate, returnDelayTime,
            responseStatusLevel, minPositionLimit, maxPositionLimit, maxTemperatureLimit, maxVoltageLimit,
            minVoltageLimit, maxTorqueLimit, phase, unloadingCondition, ledAlarmCondition, pCoefficient,
            dCoefficient, iCoefficient, minimumStartupForce, cwDeadZone, ccwDeadZone, protectionCurrent,
            angularResolution, homingOffset, operatingMode, protectiveTorque, protectionTime, overloadTorque,
            overCurrentProtectionTime, torqueEnable, acceleration, goalPosition, goalTime, goalVelocity,
            torqueLimit, lock, presentPosition, presentVelocity, presentLoad, presentVoltage, presentTemperature,
            status, moving, presentCurrent,
        ]
    }

    /// Status-packet error bits (Feetech `ERRBIT_*`).
    public struct StatusError: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let voltage = StatusError(rawValue: 1)
        public static let angle = StatusError(rawValue: 2)
        public static let overheat = StatusError(rawValue: 4)
        public static let overCurrent = StatusError(rawValue: 8)
        public static let overload = StatusError(rawValue: 32)
    }

    /// Baud-rate register codes (`Baud_Rate` = index).
    public static let baudRates: [Int] = [1_000_000, 500_000, 250_000, 128_000, 115_200, 57_600, 38_400, 19_200]

    public static let modelNumber: UInt16 = 777

    /// The STS3215 as data.
    public static let table = ServoControlTable(
        modelName: "STS3215", modelNumber: modelNumber, wireProtocol: .feetech, resolution: 4096, memorySize: 128,
        registers: Register.all, modelNumberRegister: Register.modelNumber, id: Register.id,
        baudRate: Register.baudRate, torqueEnable: Register.torqueEnable, goalPosition: Register.goalPosition,
        presentPosition: Register.presentPosition, presentVelocity: Register.presentVelocity,
        presentLoad: Register.presentLoad, presentTemperature: Register.presentTemperature,
        minPositionLimit: Register.minPositionLimit, maxPositionLimit: Register.maxPositionLimit,
        defaults: [
            (Register.firmwareMajorVersion, 3), (Register.firmwareMinorVersion, 9),
            (Register.modelNumber, Int32(modelNumber)), (Register.baudRate, 0), (Register.responseStatusLevel, 1),
            (Register.minPositionLimit, 0), (Register.maxPositionLimit, 4095), (Register.maxTemperatureLimit, 70),
            (Register.maxVoltageLimit, 140), (Register.minVoltageLimit, 40), (Register.maxTorqueLimit, 1000),
            (Register.pCoefficient, 32), (Register.iCoefficient, 0), (Register.dCoefficient, 32),
            (Register.protectionCurrent, 500), (Register.overloadTorque, 80), (Register.torqueLimit, 1000),
            (Register.presentVoltage, 120), (Register.presentTemperature, 30), (Register.goalPosition, 2048),
            (Register.presentPosition, 2048),
        ])
}
