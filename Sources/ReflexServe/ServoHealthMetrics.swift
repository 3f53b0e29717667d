// A bus arm's servo health and bus counters as Prometheus text: per-joint temperature, voltage, load or current,
// hardware-error bits and problems, and the bus's retries and timeouts (a cable loses replies; a sick servo runs hot).
import ReflexHardware

enum ServoHealthMetrics {
    /// Exposition text (format 0.0.4) of `report`; gauges are left out for a servo not read yet.
    static func text(_ report: BusHealthReport) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, v) in samples { out += "\(name)\(labels) \(v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)")\n" }
        }
        func labels(_ s: ServoHealth, _ extra: String = "") -> String {
            "{joint=\"\(s.joint)\",id=\"\(s.id)\"\(extra)}"
        }
        let servos = report.servos
        family("reflex_servo_temperature_celsius", "gauge", "Present temperature of each servo",
               servos.compactMap { s in s.temperature.map { (labels(s), Double($0)) } })
        family("reflex_servo_temperature_limit_celsius", "gauge", "The servo's own temperature limit",
               servos.map { (labels($0), Double($0.temperatureLimit)) })
        family("reflex_servo_voltage_volts", "gauge", "Present supply voltage at each servo",
               servos.compactMap { s in s.voltage.map { (labels(s), $0) } })
        family("reflex_servo_load_percent", "gauge", "Present load, % of maximum torque (Feetech, XL430)",
               servos.compactMap { s in s.load.map { (labels(s), $0) } })
        family("reflex_servo_current_amperes", "gauge", "Present current (XL330, Feetech)",
               servos.compactMap { s in s.current.map { (labels(s), $0) } })
        family("reflex_servo_hardware_error", "gauge", "Hardware-error bits (Feetech Status, Dynamixel Hardware_Error_Status)",
               servos.map { (labels($0), Double($0.hardwareError)) })
        let problems = ["over_temperature", "under_voltage", "over_voltage", "hardware_error", "no_reply"]
        family("reflex_servo_problem", "gauge", "1 while a servo's latest reading shows the problem",
               servos.flatMap { s in problems.map { p in (labels(s, ",problem=\"\(p)\""), s.problems.contains(p) ? 1.0 : 0.0) } })
        family("reflex_servo_missed_reads_total", "counter", "Reads of this servo that got no reply",
               servos.map { (labels($0), Double($0.missedReadings)) })
        let bus = "{bus=\"\(report.bus)\"}"
        let c = report.statistics
        family("reflex_bus_requests_total", "counter", "Requests sent on the servo bus (each retry counts)", [(bus, Double(c.requests))])
        family("reflex_bus_retries_total", "counter", "Requests sent again after a failed attempt", [(bus, Double(c.retries))])
        family("reflex_bus_timeouts_total", "counter", "Attempts that saw no status packet from some servo", [(bus, Double(c.timeouts))])
        family("reflex_bus_corrupt_replies_total", "counter", "Status packets that failed their checksum/CRC", [(bus, Double(c.corruptReplies))])
        family("reflex_bus_failures_total", "counter", "Transactions that failed after all retries", [(bus, Double(c.failures))])
        family("reflex_bus_retry_budget_exhausted_total", "counter", "Times the bus spent its retry budget and the arm stopped commanding motion",
               [(bus, Double(report.retryBudgetExhaustions))])
        family("reflex_bus_retry_budget_exhausted", "gauge", "1 while the retry budget is spent (no motion commanded)",
               [(bus, report.retryBudgetMessage == nil ? 0 : 1)])
        return out
    }
}
