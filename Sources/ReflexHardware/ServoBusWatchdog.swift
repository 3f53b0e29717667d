// The Dynamixel X-series Bus Watchdog (control table address 98) in the emulator, as ROBOTIS's e-Manual describes
// it: a value of 1…127 arms it (units of 20 ms); while Torque Enable is 1, if no instruction packet arrives on the
// bus for longer than that, the servo stops where it is, the register reads −1 (Bus Watchdog Error), and the Goal
// registers become read-only (a write gets an access error) until 0 is written to it. Torque stays on: the servo
// holds its present position. Feetech STS3215 servos have no such register: with the controller gone they keep
// torque and go on to their last goal.

extension EmulatedServo {
    /// The control table's Bus Watchdog register, if the model has one.
    var busWatchdogRegister: ServoRegister? {
        table.wireProtocol == .dynamixel ? table.registers.first { $0.address == DynamixelX.busWatchdog.address && $0.width == 1 } : nil
    }

    /// The Bus Watchdog register as a signed byte: 0 off, 1…127 armed (×20 ms), −1 tripped.
    public var busWatchdog: Int8? {
        busWatchdogRegister.map { Int8(bitPattern: memory[Int($0.address)]) }
    }

    /// The watchdog has tripped (Bus Watchdog Error): goal writes are refused until it is cleared.
    public var busWatchdogTripped: Bool { busWatchdog == -1 }

    /// Whether a write to `address..<address+count` touches a goal register.
    func touchesGoal(_ address: Int, _ count: Int) -> Bool {
        let goals = [table.goalPosition, DynamixelX.goalVelocity, DynamixelX.goalPWM]
        return goals.contains { Int($0.address) < address + count && address < Int($0.address) + $0.width }
    }
}

extension ServoBusEmulator {
    /// Trips the watchdog of every armed, torqued servo once the bus has been silent for longer than its setting.
    func applyBusWatchdogs() {
        for s in servos {
            guard let w = s.busWatchdog, w > 0, s.motion.torqueEnabled else { continue }
            if secondsSinceInstruction > Double(w) * 0.020 {
                guard let r = s.busWatchdogRegister else { continue }
                s.memory[Int(r.address)] = 0xFF // −1: Bus Watchdog Error
                s.motion.goal = s.motion.position // "the DYNAMIXEL will stop"
                s.store(s.table.goalPosition, Int32(s.motion.position.rounded()))
                busWatchdogTrips += 1
            }
        }
    }
}
