import ReflexCore

extension ReflexError.Code {
    /// The serial device does not exist (unplugged, wrong path).
    public static let deviceNotFound = Self("deviceNotFound")
    /// Another process holds the serial device (exclusive lock or TIOCEXCL).
    public static let deviceBusy = Self("deviceBusy")
    /// The device exists but could not be opened or configured (permissions, not a tty, unsupported baud).
    public static let deviceUnavailable = Self("deviceUnavailable")
    /// A servo sent nothing before the deadline ("There is no status packet").
    public static let servoNoReply = Self("servoNoReply")
    /// A servo's reply was cut short or failed its checksum/CRC ("Incorrect status packet").
    public static let servoCorruptReply = Self("servoCorruptReply")
    /// A servo replied and set error bits in its status packet.
    public static let servoStatusError = Self("servoStatusError")
    /// A request that cannot be encoded (id out of range, packet too long, bad register width).
    public static let badServoRequest = Self("badServoRequest")
}
