// Drives the simulated SO-101 with the bundled lift policy through Reflex's real-time loop, then predicts one chunk
// for a given observation and seed (what `reflex predict` prints for the same inputs). Usage:
//   EmbedReflex POLICY_DIR [SEED]        (from the repository root: EmbedReflex policies/so101-lift 7)
import Foundation
import ReflexCore
import ReflexDeployment
import ReflexPolicy
import ReflexRuntime

let args = CommandLine.arguments
let policyDirectory = args.count > 1 ? args[1] : "policies/so101-lift"
let seed = args.count > 2 ? UInt64(args[2]) ?? 0 : 0

// 1. An arm from a config (here the simulated lift scene of episode seed 3), a controller, the policy with its steering.
let deployment = try Deployment(config: ArmConfig(robot: "so101", sim: "lift", seed: 3))
let controller = try deployment.makeController(rate: 20, priority: nil)
try controller.bringUp()
try controller.loadPolicy(name: "lift", directory: policyDirectory)

// 2. Start, watch, stop.
try controller.start(policy: "lift", prepare: { try deployment.prepareEpisode() })
let started = Date()
while !deployment.taskSucceeded && Date().timeIntervalSince(started) < 8 { Thread.sleep(forTimeInterval: 0.1) }
try controller.stop()
if let loop = controller.status().loop {
    print("episode: success \(deployment.taskSucceeded), \(loop.counters.ticks) ticks, \(loop.counters.deadlineMisses) misses")
}
controller.shutdown()

// 3. One chunk for a fixed observation and seed, as JSON.
let policy = try PolicyLoader.load(directory: policyDirectory)
let c = policy.config
let history = (0 ..< c.conditionSize).map { Float($0 % 7) * 0.05 }
var chunk = [Float](repeating: 0, count: c.horizon * c.actionSize)
var generator = RandomGenerator(seed: seed)
policy.reset()
history.withUnsafeBufferPointer { h in
    chunk.withUnsafeMutableBufferPointer { out in
        guard let input = h.baseAddress, let output = out.baseAddress else { return }
        _ = policy.predictChunk(history: input, stepsExecuted: 0, output: output, generator: &generator)
    }
}
print("chunk: " + String(decoding: try JSONEncoder().encode(chunk), as: UTF8.self))
