// ROBOTIS Dynamixel X-series control tables (Protocol 2.0): XL330-M288 (Koch follower, ALOHA grippers) and
// XL430-W250 (Koch leader), from the ROBOTIS e-Manual. Signed fields are two's complement.

/// Hardware Error Status (address 70) bits, reported when the status packet's alert bit (0x80) is set.
public struct DynamixelHardwareError: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let inputVoltage = DynamixelHardwareError(rawValue: 1 << 0)
    public static let overheating = DynamixelHardwareError(rawValue: 1 << 2)
    public static let motorEncoder = DynamixelHardwareError(rawValue: 1 << 3)
    public static let electricalShock = DynamixelHardwareError(rawValue: 1 << 4)
    public static let overload = DynamixelHardwareError(rawValue: 1 << 5)
}

/// Registers every X-series servo shares, at the same addresses.
public enum DynamixelX {
    public static let modelNumber = ServoRegister("Model_Number", 0, 2, writable: false, area: .eeprom)
    public static let modelInformation = ServoRegister("Model_Information", 2, 4, writable: false, area: .eeprom)
    public static let firmwareVersion = ServoRegister("Firmware_Version", 6, 1, writable: false, area: .eeprom)
    public static let id = ServoRegister("ID", 7, 1, area: .eeprom)
    public static let baudRate = ServoRegister("Baud_Rate", 8, 1, area: .eeprom)
    public static let returnDelayTime = ServoRegister("Return_Delay_Time", 9, 1, area: .eeprom)
    public static let driveMode = ServoRegister("Drive_Mode", 10, 1, area: .eeprom)
    public static let operatingMode = ServoRegister("Operating_Mode", 11, 1, area: .eeprom)
    public static let secondaryID = ServoRegister("Secondary_ID", 12, 1, area: .eeprom)
    public static let protocolType = ServoRegister("Protocol_Type", 13, 1, area: .eeprom)
    public static let homingOffset = ServoRegister("Homing_Offset", 20, 4, encoding: .twosComplement, area: .eeprom)
    public static let movingThreshold = ServoRegister("Moving_Threshold", 24, 4, area: .eeprom)
    public static let temperatureLimit = ServoRegister("Temperature_Limit", 31, 1, area: .eeprom)
    public static let maxVoltageLimit = ServoRegister("Max_Voltage_Limit", 32, 2, area: .eeprom)
    public static let minVoltageLimit = ServoRegister("Min_Voltage_Limit", 34, 2, area: .eeprom)
    public static let pwmLimit = ServoRegister("PWM_Limit", 36, 2, area: .eeprom)
    public static let velocityLimit = ServoRegister("Velocity_Limit", 44, 4, area: .eeprom)
    public static let maxPositionLimit = ServoRegister("Max_Position_Limit", 48, 4, area: .eeprom)
    public static let minPositionLimit = ServoRegister("Min_Position_Limit", 52, 4, area: .eeprom)
    public static let shutdown = ServoRegister("Shutdown", 63, 1, area: .eeprom)
    public static let torqueEnable = ServoRegister("Torque_Enable", 64, 1)
    public static let led = ServoRegister("LED", 65, 1)
    public static let statusReturnLevel = ServoRegister("Status_Return_Level", 68, 1)
    public static let registeredInstruction = ServoRegister("Registered_Instruction", 69, 1, writable: false)
    public static let hardwareErrorStatus = ServoRegister("Hardware_Error_Status", 70, 1, writable: false)
    public static let velocityIGain = ServoRegister("Velocity_I_Gain", 76, 2)
    public static let velocityPGain = ServoRegister("Velocity_P_Gain", 78, 2)
    public static let positionDGain = ServoRegister("Position_D_Gain", 80, 2)
    public static let positionIGain = ServoRegister("Position_I_Gain", 82, 2)
    public static let positionPGain = ServoRegister("Position_P_Gain", 84, 2)
    public static let feedforward2ndGain = ServoRegister("Feedforward_2nd_Gain", 88, 2)
    public static let feedforward1stGain = ServoRegister("Feedforward_1st_Gain", 90, 2)
    public static let busWatchdog = ServoRegister("Bus_Watchdog", 98, 1)
    public static let goalPWM = ServoRegister("Goal_PWM", 100, 2, encoding: .twosComplement)
    public static let goalVelocity = ServoRegister("Goal_Velocity", 104, 4, encoding: .twosComplement)
    public static let profileAcceleration = ServoRegister("Profile_Acceleration", 108, 4)
    public static let profileVelocity = ServoRegister("Profile_Velocity", 112, 4)
    public static let goalPosition = ServoRegister("Goal_Position", 116, 4, encoding: .twosComplement)
    public static let realtimeTick = ServoRegister("Realtime_Tick", 120, 2, writable: false)
    public static let moving = ServoRegister("Moving", 122, 1, writable: false)
    public static let movingStatus = ServoRegister("Moving_Status", 123, 1, writable: false)
    public static let presentPWM = ServoRegister("Present_PWM", 124, 2, encoding: .twosComplement, writable: false)
    public static let presentVelocity = ServoRegister("Present_Velocity", 128, 4, encoding: .twosComplement, writable: false)
    public static let presentPosition = ServoRegister("Present_Position", 132, 4, encoding: .twosComplement, writable: false)
    public static let velocityTrajectory = ServoRegister("Velocity_Trajectory", 136, 4, encoding: .twosComplement, writable: false)
    public static let positionTrajectory = ServoRegister("Position_Trajectory", 140, 4, encoding: .twosComplement, writable: false)
    public static let presentInputVoltage = ServoRegister("Present_Input_Voltage", 144, 2, writable: false)
    public static let presentTemperature = ServoRegister("Present_Temperature", 146, 1, writable: false)

    static let common: [ServoRegister] = [
        modelNumber, modelInformation, firmwareVersion, id, baudRate, returnDelayTime, driveMode, operatingMode,
        secondaryID, protocolType, homingOffset, movingThreshold, temperatureLimit, maxVoltageLimit,
        minVoltageLimit, pwmLimit, velocityLimit, maxPositionLimit, minPositionLimit, shutdown, torqueEnable, led,
        statusReturnLevel, registeredInstruction, hardwareErrorStatus, velocityIGain, velocityPGain,
        positionDGain, positionIGain, positionPGain, feedforward2ndGain, feedforward1stGain, busWatchdog, goalPWM,
        goalVelocity, profileAcceleration, profileVelocity, goalPosition, realtimeTick, moving, movingStatus,
        presentPWM, presentVelocity, presentPosition, velocityTrajectory, positionTrajectory,
        presentInputVoltage, presentTemperature,
    ]

    /// Baud-rate register codes (`Baud_Rate` = index).
    public static let baudRates: [Int] = [9_600, 57_600, 115_200, 1_000_000, 2_000_000, 3_000_000, 4_000_000, 4_500_000]
}

/// ROBOTIS XL330-M288 (model number 1200): current-sensing, 5 V.
public enum XL330 {
    public enum Register {
        public static let currentLimit = ServoRegister("Current_Limit", 38, 2, area: .eeprom)
        public static let startupConfiguration = ServoRegister("Startup_Configuration", 60, 1, area: .eeprom)
        public static let pwmSlope = ServoRegister("PWM_Slope", 62, 1, area: .eeprom)
        public static let goalCurrent = ServoRegister("Goal_Current", 102, 2, encoding: .twosComplement)
        public static let presentCurrent = ServoRegister("Present_Current", 126, 2, encoding: .twosComplement, writable: false)
        public static let all: [ServoRegister] = (DynamixelX.common + [currentLimit, startupConfiguration, pwmSlope,
                                                                      goalCurrent, presentCurrent])
            .sorted { $0.address < $1.address }
    }
    public static let modelNumber: UInt16 = 1200
    public static let table = ServoControlTable(
        modelName: "XL330-M288", modelNumber: modelNumber, wireProtocol: .dynamixel, resolution: 4096,
        memorySize: 256, registers: Register.all, modelNumberRegister: DynamixelX.modelNumber, id: DynamixelX.id,
        baudRate: DynamixelX.baudRate, torqueEnable: DynamixelX.torqueEnable, goalPosition: DynamixelX.goalPosition,
        presentPosition: DynamixelX.presentPosition, presentVelocity: DynamixelX.presentVelocity,
        presentLoad: Register.presentCurrent, presentTemperature: DynamixelX.presentTemperature,
        minPositionLimit: DynamixelX.minPositionLimit, maxPositionLimit: DynamixelX.maxPositionLimit,
        defaults: [
            (DynamixelX.modelNumber, Int32(modelNumber)), (DynamixelX.firmwareVersion, 46), (DynamixelX.baudRate, 1),
            (DynamixelX.returnDelayTime, 250), (DynamixelX.operatingMode, 3), (DynamixelX.protocolType, 2),
            (DynamixelX.secondaryID, 255), (DynamixelX.movingThreshold, 10), (DynamixelX.temperatureLimit, 70),
            (DynamixelX.maxVoltageLimit, 70), (DynamixelX.minVoltageLimit, 35), (DynamixelX.pwmLimit, 885),
            (Register.currentLimit, 1750), (DynamixelX.velocityLimit, 445), (DynamixelX.maxPositionLimit, 4095),
            (DynamixelX.minPositionLimit, 0), (DynamixelX.shutdown, 52), (DynamixelX.statusReturnLevel, 2),
            (DynamixelX.velocityIGain, 1600), (DynamixelX.velocityPGain, 180), (DynamixelX.positionPGain, 400),
            (DynamixelX.presentInputVoltage, 50), (DynamixelX.presentTemperature, 30),
            (DynamixelX.goalPosition, 2048), (DynamixelX.presentPosition, 2048),
        ])
}

/// ROBOTIS XL430-W250 (model number 1060): 12 V, no current sensing (present load instead).
public enum XL430 {
    public enum Register {
        public static let presentLoad = ServoRegister("Present_Load", 126, 2, encoding: .twosComplement, writable: false)
        public static let all: [ServoRegister] = (DynamixelX.common + [presentLoad]).sorted { $0.address < $1.address }
    }
    public static let modelNumber: UInt16 = 1060
    public static let table = ServoControlTable(
        modelName: "XL430-W250", modelNumber: modelNumber, wireProtocol: .dynamixel, resolution: 4096,
        memorySize: 256, registers: Register.all, modelNumberRegister: DynamixelX.modelNumber, id: DynamixelX.id,
        baudRate: DynamixelX.baudRate, torqueEnable: DynamixelX.torqueEnable, goalPosition: DynamixelX.goalPosition,
        presentPosition: DynamixelX.presentPosition, presentVelocity: DynamixelX.presentVelocity,
        presentLoad: Register.presentLoad, presentTemperature: DynamixelX.presentTemperature,
        minPositionLimit: DynamixelX.minPositionLimit, maxPositionLimit: DynamixelX.maxPositionLimit,
        defaults: [
            (DynamixelX.modelNumber, Int32(modelNumber)), (DynamixelX.firmwareVersion, 45), (DynamixelX.baudRate, 1),
            (DynamixelX.returnDelayTime, 250), (DynamixelX.operatingMode, 3), (DynamixelX.protocolType, 2),
            (DynamixelX.secondaryID, 255), (DynamixelX.movingThreshold, 10), (DynamixelX.temperatureLimit, 72),
            (DynamixelX.maxVoltageLimit, 140), (DynamixelX.minVoltageLimit, 60), (DynamixelX.pwmLimit, 885),
            (DynamixelX.velocityLimit, 265), (DynamixelX.maxPositionLimit, 4095), (DynamixelX.minPositionLimit, 0),
            (DynamixelX.shutdown, 52), (DynamixelX.statusReturnLevel, 2), (DynamixelX.velocityIGain, 1000),
            (DynamixelX.velocityPGain, 100), (DynamixelX.positionPGain, 640), (DynamixelX.presentInputVoltage, 120),
            (DynamixelX.presentTemperature, 30), (DynamixelX.goalPosition, 2048), (DynamixelX.presentPosition, 2048),
        ])
}
